"""Ansible inventory plugin: reads a gigafactory site file directly (no generated inventory).

Hosts, groups and variables come from ``gigafactory.baremetal.inventory.build``; hosts are added to their
rack group only and every shared variable is set once on its group, so loading 25,000 hosts
costs little per host.
"""

from __future__ import annotations

import os
from typing import Any

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

_FAST_HOSTS = os.environ.get("GIGAFACTORY_INVENTORY_PUBLIC_API", "") != "1"
"""Add hosts through ansible-core internals (fast); GIGAFACTORY_INVENTORY_PUBLIC_API=1 uses only
the public inventory API (slow, for comparison and as a fallback)."""

DOCUMENTATION = r"""
name: gigafactory_site
short_description: Inventory of a gigafactory site file
description:
  - Builds hosts, groups and variables from a gigafactory site file (sites/<site>.yaml) through the
    gigafactory library; the configuration file name must end in C(.gigafactory_site.yml).
options:
  plugin:
    description: Marks the file as this plugin's configuration.
    required: true
    choices: [gigafactory_site]
  site:
    description: Path of the site file; relative paths are read from the configuration file's directory.
    required: true
    type: str
  cluster:
    description: Load only this cluster (much faster for one cluster of a large site).
    required: false
    type: str
"""

EXAMPLES = r"""
# playbooks/inventory/narvik.gigafactory_site.yml
plugin: gigafactory_site
site: ../../sites/narvik.yaml
cluster: c1
"""


class InventoryModule(BaseInventoryPlugin):  # type: ignore[misc]
    NAME = "gigafactory_site"

    def verify_file(self, path: str) -> bool:
        return bool(super().verify_file(path)) and path.endswith(
            (".gigafactory_site.yml", ".gigafactory_site.yaml")
        )

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        try:
            from gigafactory.baremetal.inventory import build
            from gigafactory.errors import GigafactoryError
            from gigafactory.site import load_site
            from gigafactory.site.load import address_plan_fits
        except ImportError as exc:
            raise AnsibleParserError(
                f"gigafactory_site needs the gigafactory package on the controller: {exc}"
            ) from exc
        site_path = self.get_option("site")
        if not os.path.isabs(site_path):
            site_path = os.path.join(os.path.dirname(os.path.abspath(path)), site_path)
        cluster = self.get_option("cluster")
        try:
            site = load_site(site_path)
            address_plan_fits(site)  # never emit hosts whose addresses fall outside their hall
            inv = build(site, cluster)
        except GigafactoryError as exc:
            raise AnsibleParserError(str(exc)) from exc
        except KeyError:
            raise AnsibleParserError(f"{site_path}: no cluster {cluster!r}") from None
        except (RecursionError, MemoryError, OSError) as exc:  # never a half-built inventory
            raise AnsibleParserError(f"{site_path}: cannot load: {type(exc).__name__}") from None

        add_group = self.inventory.add_group
        add_child = self.inventory.add_child
        set_variable = self.inventory.set_variable
        for g in inv.groups.values():
            add_group(g.name)
            for key, value in g.vars.items():
                set_variable(g.name, key, value)
        for g in inv.groups.values():
            for child in g.children:
                add_child(g.name, child)
        data = getattr(self.inventory, "__wrapped__", self.inventory)
        if _FAST_HOSTS and all(hasattr(data, a) for a in ("hosts", "groups", "current_source")):
            _add_hosts_fast(data, inv)
        else:
            _add_hosts(self.inventory, inv)


def _add_hosts(inventory: Any, inv: Any) -> None:
    """Hosts through the public inventory API: about 0.3 ms per host in ansible-core 2.19."""
    for g in inv.groups.values():
        for host in g.hosts:
            inventory.add_host(host, group=g.name)
            for key, value in inv.hostvars[host].items():
                inventory.set_variable(host, key, value)


def _add_hosts_fast(data: Any, inv: Any) -> None:
    """Hosts built as ``InventoryData.add_host`` and ``Group.add_host`` build them, without the
    per-host costs that make 25,000 hosts slow: the group ancestors walked once per rack group
    instead of once per host, the inventory directory computed once, and host variables (plain
    strings and numbers from the site model, never templates) set without the per-value
    inspection that ansible-core 2.19 gives untrusted plugin data. Depends on ansible-core
    internals (pinned in pyproject.toml); tests/ansible/test_inventory.py checks that both paths
    give the same inventory."""
    from ansible.inventory.host import Host
    from ansible.utils.path import basedir

    source = data.current_source
    common = {"inventory_file": source, "inventory_dir": basedir(source) if source else None}
    hosts = data.hosts
    for g in inv.groups.values():
        if not g.hosts:
            continue
        group = data.groups[g.name]
        lineage = [*group.get_ancestors(), group]
        names = group.host_names  # the group's name set, built on first use
        for name in g.hosts:
            if name in hosts:  # already placed by an earlier group: the public path handles it
                group.add_host(hosts[name])
                hosts[name].vars.update(inv.hostvars[name])
                continue
            host = Host(name)
            host.vars = {**common, **inv.hostvars[name]}
            host.groups = list(lineage)
            hosts[name] = host
            group.hosts.append(host)
            names.add(name)
        group.clear_hosts_cache()
    data._groups_dict_cache = {}
