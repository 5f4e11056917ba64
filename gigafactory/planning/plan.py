"""Capacity planning: pure functions from a Site to a SitePlan.

Cost grows with the number of pools and clusters, never with nodes or GPUs: every figure
is arithmetic on per-pool counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gigafactory.site.catalog import Switch
from gigafactory.site.model import Cluster, Pool, Site


@dataclass(frozen=True, slots=True)
class FabricPlan:
    """Scale-out fabric of one cluster (one plane): a rail-optimised, non-blocking fat tree.

    Sized for whole scalable units (NVIDIA designs for the full SU, unused ports reserved).
    """

    switch: str
    radix: int
    endpoints: int
    """GPU NICs actually installed (one per GPU)."""
    design_endpoints: int
    """Endpoints rounded up to whole scalable units: what the fabric is built for."""
    tiers: int
    """1 (one switch), 2 or 3; 0 for a cluster without GPUs."""
    leaf: int
    spine: int
    core: int
    cables: int
    """Fabric links: design_endpoints per tier."""
    max_endpoints: int
    """Largest non-blocking plane this radix builds in three tiers: k^3/4."""

    @property
    def switches(self) -> int:
        return self.leaf + self.spine + self.core

    @property
    def fits(self) -> bool:
        return self.design_endpoints <= self.max_endpoints


@dataclass(frozen=True, slots=True)
class PoolPlan:
    name: str
    role: str
    sku: str
    hall: str
    nodes: int
    gpus: int
    racks: int
    first_rack: int
    last_rack: int
    it_kw: float
    scalable_units: float
    """Racks / racks per SU; whole when the pool is built in whole SUs."""
    su_aligned: bool
    """True when the pool starts on an SU boundary and holds whole SUs."""


@dataclass(frozen=True, slots=True)
class ClusterPlan:
    name: str
    platform: str
    nodes: int
    gpus: int
    racks: int
    it_mw: float
    pools: tuple[PoolPlan, ...]
    fabric: FabricPlan


@dataclass(frozen=True, slots=True)
class SitePlan:
    site: str
    phase: str
    gpus: int
    nodes: int
    racks: int
    it_mw: float
    facility_mw: float
    envelope_mw: float
    design_pue: float
    zone: str
    carbon_g_per_kwh: float
    renewable_share: float
    clusters: tuple[ClusterPlan, ...]

    @property
    def headroom_mw(self) -> float:
        """Envelope of the active phase minus facility power; negative means over the envelope."""
        return self.envelope_mw - self.facility_mw


def fabric_size(endpoints: int, switch: Switch, design_endpoints: int | None = None) -> FabricPlan:
    """Size a non-blocking fat tree for ``design_endpoints`` GPU NICs (FACTS.md section 4).

    Two tiers when N <= k^2/2: leaf = 2N/k, spine = N/k. Three tiers when N <= k^3/4:
    leaf = spine = 2N/k, core = N/k. Counts round up; N cables per tier.
    """
    n = endpoints if design_endpoints is None else design_endpoints
    k = switch.radix
    max_3 = k**3 // 4
    if n == 0:
        tiers, leaf, spine, core = 0, 0, 0, 0
    elif n <= k:
        tiers, leaf, spine, core = 1, 1, 0, 0
    elif n <= k * k // 2:
        tiers, leaf, spine, core = 2, math.ceil(2 * n / k), math.ceil(n / k), 0
    else:
        # Also the figure reported when n exceeds k^3/4: the fabric-plane-size rule flags it.
        tiers, leaf, spine, core = 3, math.ceil(2 * n / k), math.ceil(2 * n / k), math.ceil(n / k)
    return FabricPlan(
        switch=switch.id,
        radix=k,
        endpoints=endpoints,
        design_endpoints=n,
        tiers=tiers,
        leaf=leaf,
        spine=spine,
        core=core,
        cables=n * tiers,
        max_endpoints=max_3,
    )


def plan_pool(pool: Pool) -> PoolPlan:
    sku = pool.spec
    racks = pool.rack_count
    first = pool.first_rack_position
    return PoolPlan(
        name=pool.name,
        role=pool.role,
        sku=pool.sku,
        hall=pool.hall,
        nodes=pool.node_count,
        gpus=pool.gpus,
        racks=racks,
        first_rack=first,
        last_rack=pool.last_rack_position,
        it_kw=racks * sku.it_kw_per_rack,
        scalable_units=pool.scalable_units,
        su_aligned=pool.su_aligned,
    )


def plan_cluster(cluster: Cluster) -> ClusterPlan:
    pools = tuple(plan_pool(p) for p in cluster.pools)
    endpoints = sum(p.node_count * p.spec.nics_per_node for p in cluster.gpu_pools)
    design = sum(
        math.ceil(p.node_count / p.spec.su_nodes) * p.spec.su_nodes * p.spec.nics_per_node
        for p in cluster.gpu_pools
    )
    return ClusterPlan(
        name=cluster.name,
        platform=cluster.platform,
        nodes=sum(p.nodes for p in pools),
        gpus=sum(p.gpus for p in pools),
        racks=sum(p.racks for p in pools),
        it_mw=sum(p.it_kw for p in pools) / 1000,
        pools=pools,
        fabric=fabric_size(endpoints, cluster.switch, design),
    )


def plan(site: Site) -> SitePlan:
    """The capacity plan of a validated site."""
    clusters = tuple(plan_cluster(c) for c in site.clusters)
    it_mw = sum(c.it_mw for c in clusters)
    return SitePlan(
        site=site.name,
        phase=site.power.active_phase,
        gpus=sum(c.gpus for c in clusters),
        nodes=sum(c.nodes for c in clusters),
        racks=sum(c.racks for c in clusters),
        it_mw=it_mw,
        facility_mw=it_mw * site.power.design_pue,
        envelope_mw=site.envelope_mw,
        design_pue=site.power.design_pue,
        zone=site.grid.zone,
        carbon_g_per_kwh=site.grid.carbon_g_per_kwh,
        renewable_share=site.grid.renewable_share,
        clusters=clusters,
    )
