"""NVLink switch trays and power shelves in the Ansible inventory, as an opt-in addition to
``gigafactory.baremetal.inventory.build``: ``add_rack_parts(build(site, c), site, c)``.

They have a BMC and no host OS, so they never join a cluster, pool or rack group that node
playbooks target: they sit in ``nvlink_switch_trays`` and ``power_shelves`` (children of
``rack_parts``), with ``ansible_connection: local`` on ``rack_parts`` so that a play against
them runs on the controller and talks to the BMC (Redfish) at ``gigafactory_bmc_address``.
"""

from __future__ import annotations

from gigafactory.baremetal.inventory import Inventory
from gigafactory.site.model import RackPart, Site

GROUP_RACK_PARTS = "rack_parts"
GROUP_BY_KIND = {"nvlink-switch-tray": "nvlink_switch_trays", "power-shelf": "power_shelves"}


def rack_parts(site: Site, cluster: str | None = None) -> list[RackPart]:
    """Every rack part of the site's pools (or one cluster's), pool by pool, rack by rack."""
    clusters = [site.cluster(cluster)] if cluster is not None else list(site.clusters)
    return [part for c in clusters for p in c.pools for part in p.all_rack_parts()]


def add_rack_parts(inv: Inventory, site: Site, cluster: str | None = None) -> Inventory:
    """Add the rack parts of ``site`` (or one cluster) to ``inv``; returns ``inv``."""
    parts = rack_parts(site, cluster)
    if not parts:
        return inv
    top = inv.group(GROUP_RACK_PARTS)
    top.vars["ansible_connection"] = "local"
    for kind, name in GROUP_BY_KIND.items():
        if name not in top.children and any(p.kind == kind for p in parts):
            top.children.append(name)
    for part in parts:
        inv.group(GROUP_BY_KIND[part.kind]).hosts.append(part.name)
        inv.hostvars[part.name] = {
            "gigafactory_bmc_address": part.bmc_address,
            "gigafactory_rack": part.rack,
            "gigafactory_rack_part": part.kind,
            "gigafactory_rack_part_index": part.index,
        }
    return inv
