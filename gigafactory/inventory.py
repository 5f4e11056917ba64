"""The bare-metal inventory, computed from the site model: host names, addresses, groups.

Host naming (stable when racks are added, because it follows physical position, not order):
  - worker node: ``<rack>-n<slot:02d>``, e.g. ``hall-a-r0042-n07`` (rack name from the model:
    ``<hall>-r<position:04d>``; slot 1-based from the bottom of the rack);
  - control-plane host: ``<cluster>-cp<i>``, e.g. ``c1-cp1`` (i from 1).

Address plan (per hall, the same shape in the management and the BMC network):
  - the hall network is cut into blocks of ``ADDRESSES_PER_RACK`` addresses; block ``p`` belongs
    to rack position ``p`` (1-based), and slot ``s`` gets offset ``s`` inside it, so a node's
    address depends only on its rack position and slot. Offset 0 of each block is left for the
    rack's management switch; block 0 is for the hall's gateway and services;
  - control-plane hosts take the top of the network, counted down from the last usable address,
    in cluster order of the site file then host index;
  - rule ``address-plan-capacity`` fails when a hall network cannot hold every rack position plus
    the control-plane hosts, or a SKU has more nodes per rack than a block has slots.

Groups: ``cluster_<c>``, ``pool_<c>_<p>``, ``role_<role>``, ``gpu_nodes``, ``hall_<h>``,
``su_<su>``, ``rack_<rack>``, ``kube_control_plane`` and ``cluster_<c>_control_plane`` (names with
'-' turned into '_'). Nesting: cluster > pool > rack, role > pool, gpu_nodes > pool,
hall > su > rack, kube_control_plane > cluster_<c>_control_plane < cluster_<c>. Hosts sit in their rack group only; every other membership is through
children, and shared variables are group variables (pool variables on the pool group, rack and
topology variables on the rack group), so a 25,000-host inventory stays cheap to load.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gigafactory.model import GPU_ROLES, Cluster, Hall, Pool, Site
from gigafactory.rules import Violation

ADDRESSES_PER_RACK = 32
"""Addresses per rack position block: offset 0 for the rack switch, slots 1..31 for nodes."""
RULE_ADDRESS_PLAN = "address-plan-capacity"
GROUP_CONTROL_PLANE = "kube_control_plane"
GROUP_GPU = "gpu_nodes"


def group_name(kind: str, *parts: str) -> str:
    """Ansible-safe group name: ``<kind>_<parts joined by _>`` with '-' and '.' turned into '_'."""
    raw = "_".join((kind, *parts))
    return raw.replace("-", "_").replace(".", "_")


def worker_name(rack: str, slot: int) -> str:
    return f"{rack}-n{slot:02d}"


def control_plane_name(cluster: str, index: int) -> str:
    return f"{cluster}-cp{index}"


@dataclass(frozen=True, slots=True)
class ControlPlaneHost:
    name: str
    cluster: str
    hall: str
    address: str
    bmc_address: str


def _rack_offset(position: int, slot: int) -> int:
    return position * ADDRESSES_PER_RACK + slot


def node_address(cidr: str, position: int, slot: int) -> str:
    """Address of the node in rack ``position`` (1-based), ``slot`` (1-based) of a hall network."""
    net = ipaddress.IPv4Network(cidr)
    offset = _rack_offset(position, slot)
    if not 1 <= slot < ADDRESSES_PER_RACK or offset >= net.num_addresses - 1:
        raise ValueError(f"rack position {position} slot {slot} does not fit {cidr}")
    return str(net.network_address + offset)


def control_plane_hosts(site: Site) -> list[ControlPlaneHost]:
    """Every control-plane host of the site, with addresses from the top of its hall's networks."""
    taken: dict[str, int] = {}
    hosts: list[ControlPlaneHost] = []
    for c in site.clusters:
        hall = site.hall(c.control_plane_hall)
        mgmt = ipaddress.IPv4Network(hall.mgmt_cidr)
        bmc = ipaddress.IPv4Network(hall.bmc_cidr)
        for i in range(1, c.control_plane_count + 1):
            k = taken.get(hall.name, 0)
            taken[hall.name] = k + 1
            hosts.append(
                ControlPlaneHost(
                    name=control_plane_name(c.name, i),
                    cluster=c.name,
                    hall=hall.name,
                    address=str(mgmt.broadcast_address - 1 - k),
                    bmc_address=str(bmc.broadcast_address - 1 - k),
                )
            )
    return hosts


def address_plan_capacity(site: Site) -> list[Violation]:
    """Rule ``address-plan-capacity``: each hall network holds every rack position and the
    control-plane hosts of the hall, and every SKU in the hall fits a rack block."""
    cp_per_hall: dict[str, int] = {}
    for c in site.clusters:
        cp_per_hall[c.control_plane_hall] = cp_per_hall.get(c.control_plane_hall, 0) + c.control_plane_count
    violations: list[Violation] = []
    for hall in site.halls:
        need = (hall.rack_positions + 1) * ADDRESSES_PER_RACK + cp_per_hall.get(hall.name, 0) + 1
        for kind, cidr in (("mgmt_cidr", hall.mgmt_cidr), ("bmc_cidr", hall.bmc_cidr)):
            have = ipaddress.IPv4Network(cidr).num_addresses
            if need > have:
                violations.append(
                    Violation(
                        rule=RULE_ADDRESS_PLAN,
                        level="mandatory",
                        subject=f"hall {hall.name}",
                        message=(
                            f"{kind} {cidr} has {have} addresses; {hall.rack_positions} rack positions x "
                            f"{ADDRESSES_PER_RACK} + {cp_per_hall.get(hall.name, 0)} control-plane hosts need "
                            f"{need}: use a prefix of /{_prefix_for(need)} or shorter"
                        ),
                    )
                )
    for c in site.clusters:
        for p in c.pools:
            if p.spec.nodes_per_rack >= ADDRESSES_PER_RACK:
                violations.append(
                    Violation(
                        rule=RULE_ADDRESS_PLAN,
                        level="mandatory",
                        subject=f"pool {c.name}/{p.name}",
                        message=(
                            f"SKU {p.sku} has {p.spec.nodes_per_rack} nodes per rack; a rack block has "
                            f"{ADDRESSES_PER_RACK - 1} slots"
                        ),
                    )
                )
    return violations


def _prefix_for(addresses: int) -> int:
    prefix = 32
    while (1 << (32 - prefix)) < addresses:
        prefix -= 1
    return prefix


@dataclass(slots=True)
class Group:
    name: str
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Inventory:
    """Groups (in a stable order) and the variables that belong to each host alone."""

    groups: dict[str, Group]
    hostvars: dict[str, dict[str, Any]]

    def group(self, name: str) -> Group:
        g = self.groups.get(name)
        if g is None:
            g = self.groups[name] = Group(name)
        return g

    def host_groups(self) -> dict[str, list[str]]:
        """Group -> parents, to resolve a host's full variables."""
        parents: dict[str, list[str]] = {}
        for g in self.groups.values():
            for child in g.children:
                parents.setdefault(child, []).append(g.name)
        return parents

    def merged_hostvars(self) -> dict[str, dict[str, Any]]:
        """Each host's variables with those of its groups merged in (parents first), as
        ``ansible-inventory --list`` shows them."""
        parents = self.host_groups()
        merged: dict[str, dict[str, Any]] = {}

        def chain(name: str, seen: set[str]) -> Iterator[str]:
            for p in parents.get(name, []):
                if p not in seen:
                    seen.add(p)
                    yield from chain(p, seen)
                    yield p

        cache: dict[str, dict[str, Any]] = {}
        for g in self.groups.values():
            if not g.hosts:
                continue
            if g.name not in cache:
                base: dict[str, Any] = {}
                for p in chain(g.name, set()):
                    base.update(self.groups[p].vars)
                base.update(g.vars)
                cache[g.name] = base
            for h in g.hosts:
                merged[h] = {**cache[g.name], **self.hostvars[h]}
        return merged

    def ansible_list(self) -> dict[str, Any]:
        """The shape of ``ansible-inventory --list``: groups with hosts and children, ``_meta.hostvars``."""
        out: dict[str, Any] = {"_meta": {"hostvars": self.merged_hostvars()}}
        parents = self.host_groups()
        top = [name for name in self.groups if name not in parents]
        out["all"] = {"children": ["ungrouped", *top]}
        for g in self.groups.values():
            entry: dict[str, Any] = {}
            if g.hosts:
                entry["hosts"] = list(g.hosts)
            if g.children:
                entry["children"] = list(g.children)
            out[g.name] = entry
        return out


def _pool_vars(pool: Pool) -> dict[str, Any]:
    return {
        "gigafactory_cluster": pool.cluster,
        "gigafactory_pool": pool.name,
        "gigafactory_role": pool.role,
        "gigafactory_sku": pool.sku,
        "gigafactory_gpus": pool.gpus_per_node,
        "gigafactory_nvlink_domain": pool.spec.nvlink_domain_gpus > pool.gpus_per_node > 0,
        "gigafactory_taints": [t.as_dict() for t in pool.taints],
    }


def _add_pool(inv: Inventory, site: Site, cluster: Cluster, pool: Pool, hall: Hall) -> None:
    pool_group = inv.group(group_name("pool", cluster.name, pool.name))
    pool_group.vars = _pool_vars(pool)
    inv.group(group_name("cluster", cluster.name)).children.append(pool_group.name)
    inv.group(group_name("role", pool.role)).children.append(pool_group.name)
    if pool.role in GPU_ROLES and pool.is_gpu:
        inv.group(GROUP_GPU).children.append(pool_group.name)
    hall_group = inv.group(group_name("hall", hall.name))
    mgmt = ipaddress.IPv4Network(hall.mgmt_cidr).network_address
    bmc = ipaddress.IPv4Network(hall.bmc_cidr).network_address
    per_rack = pool.spec.nodes_per_rack
    for r in range(pool.rack_count):
        first = pool.node_placement(r * per_rack)
        rack_group = inv.group(group_name("rack", first.rack))
        rack_group.vars = {
            "gigafactory_hall": first.hall,
            "gigafactory_su": first.su,
            "gigafactory_rack": first.rack,
            "gigafactory_rack_group": rack_group.name,
            "gigafactory_rack_position": first.rack_position,
            "gigafactory_node_labels": pool.node_labels(r * per_rack),
        }
        pool_group.children.append(rack_group.name)
        su_group = inv.group(group_name("su", first.su))
        if not su_group.children:
            hall_group.children.append(su_group.name)
        su_group.children.append(rack_group.name)
        nodes_here = min(per_rack, pool.node_count - r * per_rack)
        for slot in range(1, nodes_here + 1):
            name = worker_name(first.rack, slot)
            offset = _rack_offset(first.rack_position, slot)
            address = str(mgmt + offset)
            rack_group.hosts.append(name)
            inv.hostvars[name] = {
                "ansible_host": address,
                "gigafactory_address": address,
                "gigafactory_bmc_address": str(bmc + offset),
                "gigafactory_slot": slot,
            }


def build(site: Site, cluster: str | None = None) -> Inventory:
    """The inventory of the whole site, or of one cluster (KeyError names an unknown cluster)."""
    clusters = [site.cluster(cluster)] if cluster else list(site.clusters)
    inv = Inventory(groups={}, hostvars={})
    inv.group(GROUP_CONTROL_PLANE)
    inv.group(GROUP_GPU)
    wanted = {c.name for c in clusters}
    for cp in control_plane_hosts(site):
        if cp.cluster not in wanted:
            continue
        g = inv.group(group_name("cluster", cp.cluster, "control_plane"))
        g.vars = {"gigafactory_cluster": cp.cluster, "gigafactory_hall": cp.hall}
        g.hosts.append(cp.name)
        if g.name not in inv.groups[GROUP_CONTROL_PLANE].children:
            inv.groups[GROUP_CONTROL_PLANE].children.append(g.name)
            inv.group(group_name("cluster", cp.cluster)).children.append(g.name)
            inv.group(group_name("hall", cp.hall)).children.append(g.name)
        inv.hostvars[cp.name] = {
            "ansible_host": cp.address,
            "gigafactory_address": cp.address,
            "gigafactory_bmc_address": cp.bmc_address,
        }
    for c in clusters:
        for pool in c.pools:
            _add_pool(inv, site, c, pool, site.hall(pool.hall))
    return inv
