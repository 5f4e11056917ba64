"""The rollout-time model: how long a fleet-wide change (driver, kernel, DOCA, Kubernetes) takes.

A rollout takes a cluster's pools in batches of whole racks (an NVL72 rack is one NVLink
domain, so a rack is never split): first a canary of ``canary_racks`` racks, then batches of
``batch_racks`` racks, never mixing pools. Every node of a batch goes through the same steps
at once (the playbook's ``serial`` batch with enough forks): drain, package install, reboot,
health checks, burn-in. A batch's wall time is the per-node step time times the number of
waves the controller's ``forks`` need, plus what the Ansible controller itself spends on the
batch: a fixed batch overhead (play start, facts, the batch checks) and a cost per node of the
batch (task dispatch and the kubectl round trips of cordon, drain, Ready wait and uncordon,
which a controller of few cores serialises whatever the forks). Clusters are independent control
planes and may roll out in parallel.

Pure arithmetic on the resolved model: no Ansible, no cluster. ``gigafactory rollout-plan``
prints it; the simulator's measured batch times (benchmarks/bench_rollout.py) check the
overhead figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from gigafactory.site.model import Cluster, Pool, Site

T = TypeVar("T")

CONTROLLER_MINUTES_PER_NODE = 0.09
"""Default of ``StepCosts.controller`` (5.4 s a node): the slope of the simulator rehearsal's
batch wall times against their node counts, measured on one idle 2-core machine running the
Ansible controller (forks 50) and the simulated control plane of c1 together: 18 nodes in 88.6 s,
126 nodes in 659.1 s, (659.1 - 88.6) / (126 - 18) = 5.28 s a node, and no fixed part to speak
of (88.6 - 18 x 5.28 = -6.5 s). The controller is CPU-bound, so forks do not lower it; a
controller of more cores does: measure yours with benchmarks/bench_rollout.py and pass it in."""


DEFAULT_FORKS = 200
"""Hosts the Ansible controller handles at once: playbooks/ansible.cfg's ``forks`` (a test keeps
the two equal). 200 forks take a controller of some 10-20 GB of memory; the simulator rehearsal on
2 cores passes 50 (gigafactory.sim.rollout.FORKS)."""


@dataclass(frozen=True, slots=True)
class StepCosts:
    """Minutes each node spends in each step of a rollout (defaults: planning assumptions for
    a GB300 tray changing its GPU driver; measure your own and pass them in)."""

    drain: float = 5.0
    """Cordon and evict: waits for pods to leave (multi-node NVLink jobs leave with their rack)."""
    install: float = 10.0
    """Package install from the local mirror (driver, DOCA, toolkit)."""
    reboot: float = 8.0
    """Reboot of a Grace-Blackwell tray until kubelet is Ready again."""
    health: float = 5.0
    """GPU count, driver version, dcgmi diag -r 1, NVLink fabric and InfiniBand port checks."""
    burnin: float = 30.0
    """Burn-in before the node is admitted again (DCGM level 3 and NCCL would take longer)."""
    batch_overhead: float = 2.0
    """Per batch, not per node: play start, the batch checks, the burn-in release per rack
    (a planning assumption: the rehearsal, which leaves the burn-in out, measured no fixed part)."""
    controller: float = CONTROLLER_MINUTES_PER_NODE
    """Per node of a batch, added once (not per wave): the controller's own work for the node
    (task dispatch, cordon/drain/wait/uncordon calls). Measured by the simulator rehearsal."""

    def per_node(self) -> float:
        return self.drain + self.install + self.reboot + self.health + self.burnin


@dataclass(frozen=True, slots=True)
class Batch:
    cluster: str
    pool: str
    index: int
    """1-based position of the batch within its cluster's rollout."""
    canary: bool
    racks: tuple[str, ...]
    nodes: int
    gpus: int
    minutes: float


@dataclass(frozen=True)
class ClusterRollout:
    cluster: str
    batches: tuple[Batch, ...]

    @property
    def minutes(self) -> float:
        return sum(b.minutes for b in self.batches)

    @property
    def max_gpus_out(self) -> int:
        return max((b.gpus for b in self.batches), default=0)


@dataclass(frozen=True)
class RolloutPlan:
    site: str
    clusters: tuple[ClusterRollout, ...]
    costs: StepCosts
    canary_racks: int
    batch_racks: int
    forks: int
    mode: Literal["parallel", "serial"]
    window_hours: float
    suggestion: tuple[int, int] | None = field(default=None)
    """(racks per batch, forks) of the smallest SU-aligned batch size whose rollout fits the
    window when the controller handles a whole batch at once; None: none up to a whole pool."""

    @property
    def batch_count(self) -> int:
        return sum(len(c.batches) for c in self.clusters)

    @property
    def minutes(self) -> float:
        """Wall time: clusters side by side (parallel) or one after another (serial)."""
        per_cluster = [c.minutes for c in self.clusters]
        if not per_cluster:
            return 0.0
        return max(per_cluster) if self.mode == "parallel" else sum(per_cluster)

    @property
    def max_gpus_out(self) -> int:
        """GPUs out of service at the worst moment."""
        per_cluster = [c.max_gpus_out for c in self.clusters]
        if not per_cluster:
            return 0
        return sum(per_cluster) if self.mode == "parallel" else max(per_cluster)

    @property
    def fits_window(self) -> bool:
        return self.minutes <= self.window_hours * 60


def batch_minutes(nodes: int, costs: StepCosts, forks: int) -> float:
    """Wall minutes of one batch of ``nodes`` nodes with ``forks`` hosts handled at once."""
    waves = math.ceil(nodes / forks) if nodes else 0
    return waves * costs.per_node() + costs.batch_overhead + nodes * costs.controller


def su_batches(
    sus: Sequence[Sequence[T]], su_racks: int, canary_racks: int, batch_racks: int
) -> list[list[T]]:
    """Group one pool's racks into rollout batches that never span two scalable units.

    ``sus`` holds the pool's SUs in order, each as its racks in order (any rack handle: a rack
    position here, a rack's host count in the playbooks' ``rollout_batches`` filter). The first
    ``canary_racks`` racks are the canary, alone. Batches of fewer racks than ``su_racks`` (the
    SU size) stay inside an SU: groups of ``batch_racks`` racks, the canary's SU included (3 racks
    a batch, SUs of 8, after a one-rack canary: 3, 3, 1, then 3, 3, 2). Batches of ``su_racks``
    racks or more are whole SUs, ``batch_racks // su_racks`` of them, and the rest of the
    canary's SU finishes on its own."""
    if batch_racks < 1:
        raise ValueError(f"batch_racks must be at least 1, not {batch_racks}")
    groups = [list(su) for su in sus if su]
    whole_sus = batch_racks >= su_racks
    out: list[list[T]] = []
    if canary_racks > 0 and groups:
        first = groups.pop(0)
        out.append(first[:canary_racks])
        if first[canary_racks:]:
            if whole_sus:
                out.append(first[canary_racks:])  # the canary's SU finishes on its own
            else:
                groups.insert(0, first[canary_racks:])
    if whole_sus:
        per = max(1, batch_racks // su_racks)
        for i in range(0, len(groups), per):
            out.append([r for g in groups[i : i + per] for r in g])
    else:
        for g in groups:
            out.extend(g[i : i + batch_racks] for i in range(0, len(g), batch_racks))
    return out


def pool_batches(pool: Pool, canary_racks: int, batch_racks: int) -> list[list[int]]:
    """Rack positions of each batch of a pool (su_batches over the pool's SUs): the canary (the
    first ``canary_racks`` racks) alone, the rest of its SU, then groups of ``batch_racks`` racks
    inside each SU, or whole SUs when ``batch_racks`` is a multiple of the SU size."""
    sus: dict[str, list[int]] = {}
    for pos in range(pool.first_rack_position, pool.last_rack_position + 1):
        sus.setdefault(pool.su_name(pos), []).append(pos)
    return su_batches(list(sus.values()), pool.spec.su_racks, canary_racks, batch_racks)


def batch_sizes(su_racks: int, largest: int) -> list[int]:
    """Batch sizes in racks that keep batches inside SU boundaries: divisors of the SU size,
    then whole SUs, up to ``largest`` racks."""
    sizes = [d for d in range(1, su_racks + 1) if su_racks % d == 0]
    sizes += list(range(2 * su_racks, largest + su_racks, su_racks))
    return sizes


def _nodes_in(pool: Pool, positions: list[int]) -> int:
    per_rack = pool.spec.nodes_per_rack
    total = 0
    for pos in positions:
        first_index = (pos - pool.first_rack_position) * per_rack
        total += min(per_rack, pool.node_count - first_index)
    return total


def plan_cluster(
    cluster: Cluster, costs: StepCosts, canary_racks: int, batch_racks: int, forks: int
) -> ClusterRollout:
    """The batches of one cluster: each pool in turn, GPU pools first (their canary matters most)."""
    batches: list[Batch] = []
    pools = sorted(cluster.pools, key=lambda p: (not p.is_gpu, p.first_rack_position))
    for pool in pools:
        for k, positions in enumerate(pool_batches(pool, canary_racks if pool.is_gpu else 0, batch_racks)):
            nodes = _nodes_in(pool, positions)
            batches.append(
                Batch(
                    cluster=cluster.name,
                    pool=pool.name,
                    index=len(batches) + 1,
                    canary=pool.is_gpu and canary_racks > 0 and k == 0,
                    racks=tuple(pool.rack_name(p) for p in positions),
                    nodes=nodes,
                    gpus=nodes * pool.gpus_per_node,
                    minutes=batch_minutes(nodes, costs, forks),
                )
            )
    return ClusterRollout(cluster.name, tuple(batches))


def plan_rollout(
    site: Site,
    cluster: str | None = None,
    *,
    costs: StepCosts | None = None,
    canary_racks: int = 1,
    batch_racks: int | None = None,
    forks: int = DEFAULT_FORKS,
    mode: Literal["parallel", "serial"] = "parallel",
    window_hours: float = 24.0,
) -> RolloutPlan:
    """The rollout of the site (or one cluster). ``batch_racks`` defaults to one scalable unit
    of the first GPU pool's SKU (8 racks for GB300 NVL72)."""
    costs = costs or StepCosts()
    clusters = [site.cluster(cluster)] if cluster else list(site.clusters)
    if batch_racks is None:
        gpu = [p for c in clusters for p in c.gpu_pools]
        batch_racks = gpu[0].spec.su_racks if gpu else 1

    def build(racks: int, forks: int) -> RolloutPlan:
        return RolloutPlan(
            site=site.name,
            clusters=tuple(plan_cluster(c, costs, canary_racks, racks, forks) for c in clusters),
            costs=costs,
            canary_racks=canary_racks,
            batch_racks=racks,
            forks=forks,
            mode=mode,
            window_hours=window_hours,
        )

    result = build(batch_racks, forks)
    gpu_pools = [p for c in clusters for p in c.gpu_pools]
    su = gpu_pools[0].spec.su_racks if gpu_pools else 1
    largest = max((p.rack_count for c in clusters for p in c.pools), default=1)
    suggestion = None
    for racks in batch_sizes(su, largest):
        unbounded = build(racks, 10**9)
        if unbounded.fits_window:
            needed = max((b.nodes for c in unbounded.clusters for b in c.batches), default=1)
            suggestion = (racks, needed)
            break
    return RolloutPlan(**{**result.__dict__, "suggestion": suggestion})
