"""The resolved site: frozen objects that carry their context, built once by ``resolve``.

Everything about a node pool that other layers consume (node labels, taints and the
tolerations that match them, GPU count, topology keys, rack and scalable-unit placement,
multi-node NVLink, Kueue object names, node names and addresses) is computed here and
nowhere else: the kubelet flags Ansible writes, the simulated and kind nodes, the Kueue
flavors and quotas Pulumi creates, and the policies all read these properties.

A placed pool knows its site, cluster, hall and rack range from construction; nothing
writes into it afterwards. Load site files with ``gigafactory.site.load_site``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from gigafactory.errors import AddressPlanError, NotFoundError
from gigafactory.site import catalog
from gigafactory.site.addressing import (
    BMC_ADDRESSES_PER_RACK,
    MGMT_ADDRESSES_PER_RACK,
    NODE_SLOTS,
    POWER_SHELF_BMC_BASE,
    SWITCH_TRAY_BMC_BASE,
    power_shelf_name,
    rack_offset,
    switch_tray_name,
    worker_name,
)
from gigafactory.site.kubernetes import KubernetesSpec
from gigafactory.site.spec import (
    GPU_ROLES,
    LAPTOP_PLATFORMS,
    Commitments,
    ControlPlane,
    Fabric,
    Hall,
    HeatReuse,
    Platform,
    Power,
    RenewableEvidence,
    Role,
    Tenant,
)

__all__ = [
    "GPU_RESOURCE",
    "GPU_ROLES",
    "GPU_TAINT_KEY",
    "LABEL_CLUSTER",
    "LABEL_GPU",
    "LABEL_HALL",
    "LABEL_HOSTNAME",
    "LABEL_POOL",
    "LABEL_RACK",
    "LABEL_ROLE",
    "LABEL_SITE",
    "LABEL_SKU",
    "LABEL_SU",
    "LABEL_TENANT",
    "LAPTOP_PLATFORMS",
    "TOPOLOGY_LEVELS",
    "UNTESTED_TAINT",
    "UNTESTED_TAINT_KEY",
    "Cluster",
    "GridInfo",
    "Hall",
    "Node",
    "NodePlacement",
    "Pool",
    "RackPart",
    "Site",
    "Taint",
    "Tenant",
]

# Label and taint keys shared by every consumer of the model.
LABEL_PREFIX = "gigafactory.io"
LABEL_SITE = f"{LABEL_PREFIX}/site"
LABEL_CLUSTER = f"{LABEL_PREFIX}/cluster"
LABEL_POOL = f"{LABEL_PREFIX}/pool"
LABEL_ROLE = f"{LABEL_PREFIX}/role"
LABEL_SKU = f"{LABEL_PREFIX}/sku"
LABEL_GPU = f"{LABEL_PREFIX}/gpu"
LABEL_HALL = f"{LABEL_PREFIX}/hall"
LABEL_SU = f"{LABEL_PREFIX}/su"
LABEL_RACK = f"{LABEL_PREFIX}/rack"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_TENANT = f"{LABEL_PREFIX}/tenant"
# Topology levels for topology-aware scheduling, highest first. For NVL72 SKUs the rack
# is the NVLink domain; kubernetes.io/hostname must be the lowest level (Kueue).
TOPOLOGY_LEVELS = (LABEL_HALL, LABEL_SU, LABEL_RACK, LABEL_HOSTNAME)

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_RESOURCE = "nvidia.com/gpu"
UNTESTED_TAINT_KEY = f"{LABEL_PREFIX}/untested"


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]

    def kubelet(self) -> str:
        """The form kubelet's --register-with-taints takes: key=value:Effect."""
        return f"{self.key}={self.value}:{self.effect}"

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "value": self.value, "effect": self.effect}

    def toleration(self) -> dict[str, str]:
        """The toleration that matches exactly this taint."""
        return {**self.as_dict(), "operator": "Equal"}


UNTESTED_TAINT = Taint(UNTESTED_TAINT_KEY, "true", "NoSchedule")
"""The taint a new GPU node registers with (registered -> burn-in -> admitted): only the
burn-in chart (charts/gpu-burnin) tolerates it, and a passed per-node burn-in removes it.
Kubelet adds it at registration only (``--register-with-taints``), so a restarted kubelet
of an admitted node never puts it back."""


@dataclass(frozen=True, slots=True)
class NodePlacement:
    """Where node ``index`` (0-based, within its pool) sits."""

    index: int
    hall: str
    rack: str
    rack_position: int
    slot: int
    su: str


@dataclass(frozen=True, slots=True)
class Node:
    """One node of a pool as every consumer sees it: the kubelet's registration (Ansible,
    kubeadm), a simulated node, a kind node and the inventory host."""

    name: str
    """Host name and Kubernetes node name (``kubernetes.io/hostname``)."""
    pool: str
    placement: NodePlacement
    labels: dict[str, str]
    """Pool labels, topology labels and the hostname label."""
    taints: tuple[Taint, ...]
    gpus: int
    address: str
    """Management address (the hall's mgmt network)."""
    bmc_address: str


RackPartKind = Literal["nvlink-switch-tray", "power-shelf"]


@dataclass(frozen=True, slots=True)
class RackPart:
    """A managed part of a rack that is not a node (an NVLink switch tray or a power shelf):
    it has a BMC address in the hall's BMC network and no Kubernetes presence."""

    name: str
    """BMC host name: ``<rack>-nvsw<i:02d>`` or ``<rack>-ps<i:02d>``."""
    kind: RackPartKind
    rack: str
    rack_position: int
    index: int
    """1-based among the rack's parts of the same kind."""
    bmc_address: str


@dataclass(frozen=True, slots=True)
class GridInfo:
    """The site's grid zone with the catalog year in force (resolved default: latest)."""

    zone: str
    renewable_evidence: RenewableEvidence | None
    """Certificates behind the renewable claim; None when the site file gives none."""
    data_year: int
    carbon_g_per_kwh: float
    renewable_share: float


@dataclass(frozen=True)
class Pool:
    """A node pool placed in its site: cluster, hall and rack range are fixed at construction."""

    name: str
    role: Role
    sku: str
    site: str
    """Name of the site the pool belongs to (never empty)."""
    cluster: str
    """Name of the pool's cluster (never empty)."""
    hall_spec: Hall
    """The hall the pool stands in (its networks give node addresses)."""
    node_count: int
    first_rack_position: int
    """1-based position of the pool's first rack in its hall (pinned or allocated)."""

    def __post_init__(self) -> None:
        for what, value in (("site", self.site), ("cluster", self.cluster), ("name", self.name)):
            if not value:
                raise ValueError(f"a placed pool needs its {what}; load the site file to get placed pools")
        if self.node_count <= 0 or self.first_rack_position <= 0:
            raise ValueError("a placed pool needs at least one node and a rack position from 1")

    # --- identity and size --------------------------------------------------------------

    @property
    def hall(self) -> str:
        return self.hall_spec.name

    @cached_property
    def spec(self) -> catalog.Sku:
        """The pool's hardware from the catalog."""
        return catalog.skus()[self.sku]

    @property
    def rack_count(self) -> int:
        return math.ceil(self.node_count / self.spec.nodes_per_rack)

    @property
    def last_rack_position(self) -> int:
        return self.first_rack_position + self.rack_count - 1

    @property
    def gpus_per_node(self) -> int:
        return self.spec.gpus_per_node

    @property
    def gpus(self) -> int:
        return self.node_count * self.spec.gpus_per_node

    @property
    def is_gpu(self) -> bool:
        return self.spec.is_gpu

    @property
    def multi_node_nvlink(self) -> bool:
        """True when the pool's NVLink domain spans several nodes (GB200/GB300 NVL72 racks)."""
        return self.is_gpu and self.spec.nvlink_domain_gpus > self.gpus_per_node

    @property
    def scalable_units(self) -> float:
        """Nodes / nodes per scalable unit; whole when the pool is built in whole SUs."""
        return self.node_count / self.spec.su_nodes

    @property
    def su_aligned(self) -> bool:
        """True when the pool starts on a scalable-unit boundary and holds whole SUs."""
        return (
            self.node_count % self.spec.su_nodes == 0
            and (self.first_rack_position - 1) % self.spec.su_racks == 0
        )

    @property
    def kueue_name(self) -> str:
        """Name of the pool's Kueue ResourceFlavor, Topology and ClusterQueue (cluster-scoped)."""
        return f"{self.cluster}-{self.name}"

    # --- labels and taints --------------------------------------------------------------

    @cached_property
    def labels(self) -> dict[str, str]:
        """Node labels every node of the pool carries (topology labels are per node)."""
        return {
            LABEL_SITE: self.site,
            LABEL_CLUSTER: self.cluster,
            LABEL_POOL: self.name,
            LABEL_ROLE: self.role,
            LABEL_SKU: self.sku,
            LABEL_GPU: "true" if self.is_gpu else "false",
        }

    @cached_property
    def taints(self) -> tuple[Taint, ...]:
        """GPU pools are tainted so only GPU work (admitted by Kueue) and GPU daemons land there;
        storage pools are tainted for storage daemons; system pools take everything else."""
        if self.is_gpu:
            return (Taint(GPU_TAINT_KEY, "present", "NoSchedule"),)
        if self.role == "storage":
            return (Taint(LABEL_ROLE, "storage", "NoSchedule"),)
        return ()

    @property
    def untested_taint(self) -> Taint | None:
        """The taint new nodes of the pool register with until a burn-in admits them: GPU pools
        only (CPU pools have no burn-in); None otherwise."""
        return UNTESTED_TAINT if self.is_gpu else None

    @property
    def registration_taints(self) -> tuple[Taint, ...]:
        """What a new node registers with: the pool's taints plus the untested taint (GPU
        pools)."""
        extra = self.untested_taint
        return self.taints + ((extra,) if extra is not None else ())

    @property
    def tolerations(self) -> list[dict[str, str]]:
        """Tolerations matching exactly the pool's taints (Kueue flavors, GPU daemons)."""
        return [t.toleration() for t in self.taints]

    @property
    def topology_levels(self) -> list[str]:
        return list(TOPOLOGY_LEVELS)

    # --- placement, names and addresses of each node ------------------------------------

    def rack_name(self, position: int) -> str:
        return f"{self.hall}-r{position:04d}"

    def su_name(self, position: int) -> str:
        return f"{self.hall}-su{(position - 1) // self.spec.su_racks + 1:03d}"

    def node_placement(self, index: int) -> NodePlacement:
        if not 0 <= index < self.node_count:
            raise IndexError(f"pool {self.name} has {self.node_count} nodes, no index {index}")
        per_rack = self.spec.nodes_per_rack
        position = self.first_rack_position + index // per_rack
        return NodePlacement(
            index=index,
            hall=self.hall,
            rack=self.rack_name(position),
            rack_position=position,
            slot=index % per_rack + 1,
            su=self.su_name(position),
        )

    def rack_labels(self, position: int) -> dict[str, str]:
        """Pool labels plus the topology labels shared by the nodes of rack ``position``."""
        return {
            **self.labels,
            LABEL_HALL: self.hall,
            LABEL_SU: self.su_name(position),
            LABEL_RACK: self.rack_name(position),
        }

    def node_labels(self, index: int) -> dict[str, str]:
        """Pool labels plus the topology labels of node ``index`` (hostname is set by kubelet)."""
        return self.rack_labels(self.node_placement(index).rack_position)

    def hostname(self, index: int) -> str:
        """Host and Kubernetes node name of node ``index``: ``<rack>-n<slot:02d>``."""
        p = self.node_placement(index)
        return worker_name(p.rack, p.slot)

    @cached_property
    def _networks(self) -> tuple[tuple[ipaddress.IPv4Network, int], tuple[ipaddress.IPv4Network, int]]:
        """(network, block size) of the hall's management and BMC networks."""
        return (
            (ipaddress.IPv4Network(self.hall_spec.mgmt_cidr), MGMT_ADDRESSES_PER_RACK),
            (ipaddress.IPv4Network(self.hall_spec.bmc_cidr), BMC_ADDRESSES_PER_RACK),
        )

    def node_addresses(self, index: int) -> tuple[str, str]:
        """(management, BMC) address of node ``index``; AddressPlanError when it does not fit
        its hall's networks (the site rule address-plan-capacity says so before this runs)."""
        p = self.node_placement(index)
        out: list[str] = []
        for net, block in self._networks:
            offset = rack_offset(p.rack_position, p.slot, block)
            if not 1 <= p.slot <= NODE_SLOTS or offset >= net.num_addresses - 1:
                raise AddressPlanError(
                    f"pool {self.cluster}/{self.name}: node {worker_name(p.rack, p.slot)} needs offset "
                    f"{offset} of {net}, which has {net.num_addresses} addresses"
                )
            out.append(str(net.network_address + offset))
        return out[0], out[1]

    def rack_parts(self, position: int) -> tuple[RackPart, ...]:
        """The NVLink switch trays and power shelves of rack ``position`` (one of the pool's
        racks) with their BMC addresses; empty for SKUs without such parts (DGX, CPU racks)."""
        if not self.first_rack_position <= position <= self.last_rack_position:
            raise IndexError(
                f"pool {self.name} has racks {self.first_rack_position}-{self.last_rack_position}, "
                f"not {position}"
            )
        net, block = self._networks[1]
        rack = self.rack_name(position)
        out: list[RackPart] = []
        kinds: tuple[tuple[RackPartKind, int, int, Callable[[str, int], str]], ...] = (
            ("nvlink-switch-tray", self.spec.switch_trays_per_rack, SWITCH_TRAY_BMC_BASE, switch_tray_name),
            ("power-shelf", self.spec.power_shelves_per_rack, POWER_SHELF_BMC_BASE, power_shelf_name),
        )
        for kind, count, base, name in kinds:
            for i in range(1, count + 1):
                offset = rack_offset(position, base + i - 1, block)
                if offset >= net.num_addresses - 1:
                    raise AddressPlanError(
                        f"pool {self.cluster}/{self.name}: {name(rack, i)} needs offset {offset} of "
                        f"{net}, which has {net.num_addresses} addresses"
                    )
                out.append(
                    RackPart(name(rack, i), kind, rack, position, i, str(net.network_address + offset))
                )
        return tuple(out)

    def all_rack_parts(self) -> list[RackPart]:
        """The rack parts of every rack of the pool, rack by rack."""
        return [
            part
            for position in range(self.first_rack_position, self.last_rack_position + 1)
            for part in self.rack_parts(position)
        ]

    def node(self, index: int) -> Node:
        """Everything about node ``index`` that a kubelet registers with, in one object."""
        p = self.node_placement(index)
        name = worker_name(p.rack, p.slot)
        address, bmc = self.node_addresses(index)
        return Node(
            name=name,
            pool=self.name,
            placement=p,
            labels={**self.rack_labels(p.rack_position), LABEL_HOSTNAME: name},
            taints=self.taints,
            gpus=self.gpus_per_node,
            address=address,
            bmc_address=bmc,
        )

    def nodes(self) -> list[Node]:
        return [self.node(i) for i in range(self.node_count)]


@dataclass(frozen=True)
class Cluster:
    """One Kubernetes cluster of a site, with its placed pools."""

    name: str
    site: str
    platform: Platform
    kubernetes_node_limit_exception: str
    control_plane: ControlPlane
    """Count and hall (default resolved: the hall of the first pool)."""
    fabric: Fabric
    """Switch model (default resolved: the first GPU pool's SKU default switch)."""
    pools: tuple[Pool, ...]
    kubernetes: KubernetesSpec
    """API endpoint, pod and service networks and Kubernetes version (kubeadm)."""

    @property
    def nodes(self) -> int:
        return sum(p.node_count for p in self.pools)

    @property
    def gpus(self) -> int:
        return sum(p.gpus for p in self.pools)

    @property
    def racks(self) -> int:
        return sum(p.rack_count for p in self.pools)

    @property
    def gpu_pools(self) -> list[Pool]:
        return [p for p in self.pools if p.is_gpu]

    @property
    def control_plane_count(self) -> int:
        return self.control_plane.count

    @property
    def control_plane_hall(self) -> str:
        assert self.control_plane.hall is not None  # set by resolve
        return self.control_plane.hall

    @property
    def switch(self) -> catalog.Switch:
        assert self.fabric.switch is not None  # set by resolve
        return catalog.switches()[self.fabric.switch]

    @property
    def simulated_gpus(self) -> bool:
        return self.platform != "baremetal"

    @property
    def gpu_tolerations(self) -> list[dict[str, str]]:
        """Tolerations for every taint a node of the cluster's GPU pools carries, from
        registration on (deduplicated, model order): the node daemons that read them (GPU and
        network operator, DRA driver) must run on untested nodes too, since the burn-in that
        admits a node needs its device plugin. Kueue flavors use ``Pool.tolerations``, which
        leave the untested taint out."""
        out: list[dict[str, str]] = []
        for pool in self.gpu_pools:
            for taint in pool.registration_taints:
                tol = taint.toleration()
                if tol not in out:
                    out.append(tol)
        return out

    def pool(self, name: str) -> Pool:
        for p in self.pools:
            if p.name == name:
                return p
        raise NotFoundError("pool", name, [p.name for p in self.pools], f"cluster {self.name!r}")

    def with_platform(self, platform: Platform) -> Cluster:
        """The same cluster on another platform (a laptop stack switching kind/minikube/kwok)."""
        return dataclasses.replace(self, platform=platform)


@dataclass(frozen=True)
class Site:
    """A resolved site: every reference checked, every default set, every pool placed."""

    name: str
    description: str
    grid: GridInfo
    power: Power
    heat_reuse: HeatReuse | None
    halls: tuple[Hall, ...]
    commitments: Commitments
    clusters: tuple[Cluster, ...]
    tenants: tuple[Tenant, ...]
    file: str = ""
    """The file the site was loaded from (for messages); empty when built from data."""
    _halls: dict[str, Hall] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_halls", {h.name: h for h in self.halls})

    @property
    def envelope_mw(self) -> float:
        return self.power.envelope_mw

    def hall(self, name: str) -> Hall:
        try:
            return self._halls[name]
        except KeyError:
            raise NotFoundError("hall", name, list(self._halls), f"site {self.name!r}") from None

    def cluster(self, name: str) -> Cluster:
        for c in self.clusters:
            if c.name == name:
                return c
        raise NotFoundError("cluster", name, [c.name for c in self.clusters], f"site {self.name!r}")

    def tenants_of(self, cluster: str) -> list[Tenant]:
        return [t for t in self.tenants if t.cluster == cluster]

    def summary(self) -> dict[str, Any]:
        return {"site": self.name, "clusters": [c.name for c in self.clusters]}
