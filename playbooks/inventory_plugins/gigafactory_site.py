"""Ansible inventory plugin: reads a gigafactory site file directly (no generated inventory).

Hosts, groups and variables come from ``gigafactory.baremetal.inventory.build``; hosts are added to their
rack group only and every shared variable is set once on its group, so loading 25,000 hosts
costs little per host.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace
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
  build_cache:
    description:
      - Keep the built inventory as JSON under C($GIGAFACTORY_CACHE_DIR/inventory) (default
        C(~/.cache/gigafactory/inventory)), keyed by the site file's content, the cluster and the
        size and modification time of every file of the gigafactory package; a later load with the
        same key skips the library (pydantic and the model), most of a one-cluster load.
    required: false
    type: bool
    default: true
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
        site_path = self.get_option("site")
        if not os.path.isabs(site_path):
            site_path = os.path.join(os.path.dirname(os.path.abspath(path)), site_path)
        cluster = self.get_option("cluster")
        cache_file = _cache_file(site_path, cluster) if self.get_option("build_cache") else None
        inv = _read_cache(cache_file) if cache_file else None
        if inv is None:
            inv = _build(site_path, cluster)
            if cache_file:
                _write_cache(cache_file, inv)

        add_group = self.inventory.add_group
        add_child = self.inventory.add_child
        set_variable = self.inventory.set_variable
        data = getattr(self.inventory, "__wrapped__", self.inventory)
        fast = _FAST_HOSTS and all(hasattr(data, a) for a in ("hosts", "groups", "current_source"))
        for g in inv.groups.values():
            add_group(g.name)
            group = data.groups[g.name] if fast else None
            if group is not None and not group.vars and "ansible_group_priority" not in g.vars:
                # A group no other source gave variables, and plain values from the site model
                # (never templates): set as Group.set_variable would, without 2.19's per-value
                # inspection of untrusted plugin data (as _add_hosts_fast does for hosts).
                group.vars.update(g.vars)
            else:
                for key, value in g.vars.items():
                    set_variable(g.name, key, value)
        for g in inv.groups.values():
            for child in g.children:
                add_child(g.name, child)
        if fast:
            _add_hosts_fast(data, inv)
        else:
            _add_hosts(self.inventory, inv)


_CACHE_FORMAT = "1"


def _cache_file(site_path: str, cluster: str | None) -> Path | None:
    """The cache entry for this site file, cluster and installed library; None when the site file
    or the library cannot be read (then the inventory is built, and errors reported, as usual)."""
    spec = importlib.util.find_spec("gigafactory")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    key = hashlib.sha256(f"{_CACHE_FORMAT}\0{cluster or ''}\0".encode())
    try:
        key.update(Path(site_path).read_bytes())
        for root in spec.submodule_search_locations:
            for f in sorted(Path(root).rglob("*")):
                if f.suffix in (".py", ".yaml", ".yml", ".json") and f.is_file():
                    st = f.stat()
                    key.update(f"{f.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    except OSError:
        return None
    base = Path(os.environ.get("GIGAFACTORY_CACHE_DIR") or Path.home() / ".cache" / "gigafactory")
    return base / "inventory" / f"{key.hexdigest()}.json"


def _read_cache(path: Path) -> Any:
    try:
        data = json.loads(path.read_text())
        groups = {
            g["name"]: SimpleNamespace(
                name=g["name"], hosts=g["hosts"], children=g["children"], vars=g["vars"]
            )
            for g in data["groups"]
        }
        return SimpleNamespace(groups=groups, hostvars=data["hostvars"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or unreadable: build it


def _write_cache(path: Path, inv: Any) -> None:
    """Write atomically (a concurrent reader sees the old entry or the new one, never half)."""
    data = {
        "groups": [
            {"name": g.name, "hosts": g.hosts, "children": g.children, "vars": g.vars}
            for g in inv.groups.values()
        ],
        "hostvars": inv.hostvars,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as f:
            json.dump(data, f, separators=(",", ":"))
        os.replace(f.name, path)
    except OSError:
        pass  # a read-only home is no reason to fail the inventory


def _build(site_path: str, cluster: str | None) -> Any:
    """The site's inventory from the library (imports pydantic and the whole model: most of the
    time of a one-cluster load)."""
    try:
        from gigafactory.baremetal.inventory import build
        from gigafactory.errors import GigafactoryError
        from gigafactory.site import load_site
        from gigafactory.site.load import address_plan_fits
    except ImportError as exc:
        raise AnsibleParserError(
            f"gigafactory_site needs the gigafactory package on the controller: {exc}"
        ) from exc
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
    return inv


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
