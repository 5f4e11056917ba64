"""The bare-metal inventory, computed from the site model: host names, addresses, groups.

Host naming and the address plan: gigafactory/site/addressing.py.

Groups: ``cluster_<c>``, ``pool_<c>_<p>``, ``role_<role>``, ``gpu_nodes``, ``hall_<h>``,
``su_<su>``, ``rack_<rack>``, ``kube_control_plane`` and ``cluster_<c>_control_plane`` (names with
'-' turned into '_'). Nesting: cluster > pool > rack, role > pool, gpu_nodes > pool,
hall > su > rack, kube_control_plane > cluster_<c>_control_plane < cluster_<c>. Hosts sit in their rack group only; every other membership is through
children, and shared variables are group variables (pool variables on the pool group, rack and
topology variables on the rack group), so a 25,000-host inventory stays cheap to load.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gigafactory.baremetal.kubeadm import control_plane_vars, inventory_vars, node_labels_arg
from gigafactory.site.addressing import control_plane_hosts
from gigafactory.site.model import GPU_ROLES, Cluster, Hall, Pool, Site

GROUP_CONTROL_PLANE = "kube_control_plane"
GROUP_GPU = "gpu_nodes"


def group_name(kind: str, *parts: str) -> str:
    """Ansible-safe group name: ``<kind>_<parts joined by _>`` with '-' and '.' turned into '_'."""
    raw = "_".join((kind, *parts))
    return raw.replace("-", "_").replace(".", "_")


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
        "gigafactory_nvlink_domain": pool.multi_node_nvlink,
        "gigafactory_taints": [t.as_dict() for t in pool.taints],
        # What a new node registers with: the pool's taints plus the untested taint (GPU pools).
        "gigafactory_registration_taints": [t.as_dict() for t in pool.registration_taints],
        # NVreg_CoherentGPUMemoryMode for the driver role ("" = driver default; catalog).
        "gigafactory_coherent_gpu_memory_mode": pool.spec.coherent_gpu_memory_mode,
        # Rollout units from the SKU: a rack (an NVL72 rack is one NVLink domain) and a
        # scalable unit of su_racks racks; the rollout groups its batches by them.
        "gigafactory_nodes_per_rack": pool.spec.nodes_per_rack,
        "gigafactory_su_racks": pool.spec.su_racks,
        # Compute-fabric (InfiniBand) ports every node must show Active in the health gate.
        "gigafactory_ib_ports": pool.spec.nics_per_node,
    }


def _add_pool(inv: Inventory, site: Site, cluster: Cluster, pool: Pool, hall: Hall) -> None:
    pool_group = inv.group(group_name("pool", cluster.name, pool.name))
    pool_group.vars = _pool_vars(pool)
    inv.group(group_name("cluster", cluster.name)).children.append(pool_group.name)
    inv.group(group_name("role", pool.role)).children.append(pool_group.name)
    if pool.role in GPU_ROLES and pool.is_gpu:
        inv.group(GROUP_GPU).children.append(pool_group.name)
    hall_group = inv.group(group_name("hall", hall.name))
    per_rack = pool.spec.nodes_per_rack
    for r in range(pool.rack_count):
        first = pool.node_placement(r * per_rack)
        labels = pool.node_labels(r * per_rack)
        rack_group = inv.group(group_name("rack", first.rack))
        rack_group.vars = {
            "gigafactory_hall": first.hall,
            "gigafactory_su": first.su,
            "gigafactory_rack": first.rack,
            "gigafactory_rack_group": rack_group.name,
            "gigafactory_rack_position": first.rack_position,
            "gigafactory_node_labels": labels,
            "gigafactory_kubelet_node_labels": node_labels_arg(labels),
        }
        pool_group.children.append(rack_group.name)
        su_group = inv.group(group_name("su", first.su))
        if not su_group.children:
            hall_group.children.append(su_group.name)
        su_group.children.append(rack_group.name)
        nodes_here = min(per_rack, pool.node_count - r * per_rack)
        for slot in range(1, nodes_here + 1):
            index = r * per_rack + slot - 1
            name = pool.hostname(index)
            address, bmc = pool.node_addresses(index)
            rack_group.hosts.append(name)
            inv.hostvars[name] = {
                "ansible_host": address,
                "gigafactory_address": address,
                "gigafactory_bmc_address": bmc,
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
            **control_plane_vars(site, site.cluster(cp.cluster), cp),
        }
    for c in clusters:
        # kubeadm's cluster-wide settings (gigafactory.baremetal.kubeadm), once per cluster.
        inv.group(group_name("cluster", c.name)).vars.update(inventory_vars(site, c))
        for pool in c.pools:
            _add_pool(inv, site, c, pool, site.hall(pool.hall))
    return inv
