"""A rollout rehearsal on the simulator: cordon, drain and uncordon of whole-rack batches through
the API server, in the batches ``gigafactory.planning.rollout`` plans (canary rack first, then
the rest of its scalable unit).

This is the Kubernetes half of the project's rollout playbook (playbooks/project/rollout.yml),
which needs the ``kubernetes.core`` collection (not installed here) and hosts to log in to (the
simulated nodes have none). The node-preparation steps (package install, reboot, health,
burn-in) are left out: the simulator has no hosts, and their cost is the model's per-node step
costs. What is measured is the per-batch overhead the model calls ``batch_overhead``: the API
round trips of cordoning a batch, evicting its pods, waiting for them to be gone, and
uncordoning it until every node is schedulable again.

Each batch, as the playbook does it per ``serial`` batch:

1. cordon: ``spec.unschedulable=true`` on every node of the batch (in parallel);
2. drain: evict every pod bound to those nodes (Eviction API, so disruption budgets count)
   and wait until none is left;
3. (node preparation: not simulated);
4. uncordon: ``spec.unschedulable=false``, and wait until each node is Ready and schedulable.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from gigafactory.errors import GigafactoryError
from gigafactory.planning.rollout import Batch, StepCosts, plan_cluster
from gigafactory.sim import kube, nodes
from gigafactory.site.model import Cluster, Pool

WORKERS = 16
"""Parallel API requests (the playbook's forks act on nodes in parallel the same way)."""
DRAIN_TIMEOUT = 120.0


class RolloutError(GigafactoryError):
    """A batch could not be cordoned, drained or uncordoned."""


@dataclass(frozen=True)
class BatchTiming:
    """Wall seconds of one batch on the simulator."""

    index: int
    canary: bool
    racks: tuple[str, ...]
    nodes: int
    pods_evicted: int
    cordon_s: float
    drain_s: float
    uncordon_s: float

    @property
    def seconds(self) -> float:
        return self.cordon_s + self.drain_s + self.uncordon_s

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "canary": self.canary,
            "racks": list(self.racks),
            "nodes": self.nodes,
            "pods_evicted": self.pods_evicted,
            "cordon_s": round(self.cordon_s, 3),
            "drain_s": round(self.drain_s, 3),
            "uncordon_s": round(self.uncordon_s, 3),
            "seconds": round(self.seconds, 3),
        }


def su_batches(cluster: Cluster, pool: Pool, su: str, costs: StepCosts | None = None) -> list[Batch]:
    """The model's batches of ``pool`` that fall in scalable unit ``su`` (canary rack first when
    it is the pool's first SU), from ``plan_cluster`` with one SU per batch."""
    plan = plan_cluster(cluster, costs or StepCosts(), 1, pool.spec.su_racks, 200)
    racks = {pool.rack_name(p) for p in range(pool.first_rack_position, pool.last_rack_position + 1)}
    in_su = {r for r in racks if pool.su_name(int(r.rsplit("-r", 1)[1])) == su}
    return [b for b in plan.batches if b.pool == pool.name and set(b.racks) <= in_su]


def batch_nodes(pool: Pool, batch: Batch) -> list[str]:
    """Node names of a batch's racks."""
    racks = set(batch.racks)
    out = []
    for i in range(pool.node_count):
        if pool.node_placement(i).rack in racks:
            out.append(pool.hostname(i))
    return out


def _patch_unschedulable(api: client.ApiClient, name: str, value: bool) -> None:
    code, data = kube.request(
        api,
        "PATCH",
        f"/api/v1/nodes/{name}",
        {"spec": {"unschedulable": value}},
        content_type="application/strategic-merge-patch+json",
    )
    if code >= 300:
        raise RolloutError(
            f"node {name}: {'cordon' if value else 'uncordon'} answered {code}: {kube.message(data)}"
        )


def _pods_on(api: client.ApiClient, name: str) -> list[dict[str, Any]]:
    selector = urllib.parse.quote(f"spec.nodeName={name}")
    code, data = kube.request(api, "GET", f"/api/v1/pods?fieldSelector={selector}")
    if code != 200 or not isinstance(data, dict):
        raise RolloutError(f"pods on {name}: {code}: {kube.message(data)}")
    return list(data.get("items") or [])


def _evict(api: client.ApiClient, pod: dict[str, Any]) -> None:
    meta = pod["metadata"]
    body = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
    }
    code, data = kube.request(
        api, "POST", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/eviction", body
    )
    if code >= 300 and code != 404:
        raise RolloutError(f"evicting {meta['namespace']}/{meta['name']}: {code}: {kube.message(data)}")


def _schedulable(api: client.ApiClient, name: str) -> bool:
    code, data = kube.request(api, "GET", f"/api/v1/nodes/{name}")
    if code != 200 or not isinstance(data, dict):
        return False
    return nodes.is_ready(data) and not data.get("spec", {}).get("unschedulable", False)


def run_batch(api: client.ApiClient, index: int, batch: Batch, names: Sequence[str]) -> BatchTiming:
    """Cordon, drain and uncordon one batch; the wall time of each phase."""
    with ThreadPoolExecutor(max_workers=WORKERS) as ex:
        t0 = time.monotonic()
        list(ex.map(lambda n: _patch_unschedulable(api, n, True), names))
        t1 = time.monotonic()
        on_nodes = [p for group in ex.map(lambda n: _pods_on(api, n), names) for p in group]
        # DaemonSet pods stay, as with `kubectl drain --ignore-daemonsets`.
        victims = [
            p
            for p in on_nodes
            if not any(o.get("kind") == "DaemonSet" for o in p["metadata"].get("ownerReferences") or [])
        ]
        list(ex.map(lambda p: _evict(api, p), victims))
        deadline = time.monotonic() + DRAIN_TIMEOUT
        left = {p["metadata"]["uid"] for p in victims}
        while left:
            still = {
                p["metadata"]["uid"] for group in ex.map(lambda n: _pods_on(api, n), names) for p in group
            }
            left &= still
            if left and time.monotonic() > deadline:
                raise RolloutError(
                    f"batch {index}: {len(left)} pods still on its nodes after {DRAIN_TIMEOUT:.0f} s"
                )
            if left:
                time.sleep(0.2)
        t2 = time.monotonic()
        list(ex.map(lambda n: _patch_unschedulable(api, n, False), names))
        pending = list(names)
        while pending:
            pending = [
                n
                for n, ok in zip(pending, ex.map(lambda n: _schedulable(api, n), pending), strict=True)
                if not ok
            ]
            if pending and time.monotonic() > deadline:
                raise RolloutError(f"batch {index}: {len(pending)} nodes not schedulable again")
            if pending:
                time.sleep(0.2)
        t3 = time.monotonic()
    return BatchTiming(index, batch.canary, batch.racks, len(names), len(victims), t1 - t0, t2 - t1, t3 - t2)


def rehearse(
    api: client.ApiClient,
    cluster: Cluster,
    pool: Pool,
    su: str,
    progress: Callable[[str], None] = lambda _: None,
) -> list[BatchTiming]:
    """Roll one scalable unit of ``pool`` in the model's batches; per-batch timings."""
    out = []
    for k, batch in enumerate(su_batches(cluster, pool, su), start=1):
        names = batch_nodes(pool, batch)
        timing = run_batch(api, k, batch, names)
        progress(
            f"batch {k}{' (canary)' if batch.canary else ''}: {len(batch.racks)} racks, {len(names)} nodes, "
            f"{timing.pods_evicted} pods evicted, {timing.seconds:.2f} s"
        )
        out.append(timing)
    return out


def place_pods(
    api: client.ApiClient, namespace: str, names: Sequence[str], tolerations: Sequence[dict[str, str]]
) -> None:
    """One bare pod bound to each of ``names`` (``spec.nodeName``, the pool's tolerations), for a
    drain to evict; waits until KWOK runs them all."""

    def one(node: str) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"work-{node}", "namespace": namespace},
            "spec": {
                "nodeName": node,
                "tolerations": list(tolerations),
                "containers": [{"name": "work", "image": "registry.invalid/sim/sleep:1"}],
            },
        }
        code, data = kube.request(api, "POST", f"/api/v1/namespaces/{namespace}/pods", body)
        if code >= 300 and code != 409:
            raise RolloutError(f"pod on {node}: {code}: {kube.message(data)}")

    with ThreadPoolExecutor(max_workers=WORKERS) as ex:
        list(ex.map(one, names))
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        code, data = kube.request(api, "GET", f"/api/v1/namespaces/{namespace}/pods")
        items = data.get("items") or [] if code == 200 and isinstance(data, dict) else []
        if sum(p.get("status", {}).get("phase") == "Running" for p in items) >= len(names):
            return
        if time.monotonic() > deadline:
            raise RolloutError(f"{len(names)} pods in {namespace} not Running after {DRAIN_TIMEOUT:.0f} s")
        time.sleep(0.5)
