"""Simulated nodes: one Kubernetes Node per node of a cluster, made by ``Pool.node(i)``, the code
path the Ansible inventory's kubelet flags come from too. Created in bulk with the
``kubernetes`` client; KWOK makes them Ready.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from gigafactory.errors import GigafactoryError
from gigafactory.sim import kube
from gigafactory.sim.kwok import MANAGED_ANNOTATION, MANAGED_VALUE
from gigafactory.site.model import GPU_RESOURCE, LABEL_CLUSTER, LABEL_POOL, Cluster, Node, Pool

# A simulated node's CPU, memory, pods and local storage. The catalog describes GPUs and power,
# not host sizes; these are placeholders large enough for any pod a test or a tenant job
# schedules (a GB300 compute tray has 2 Grace CPUs of 72 cores), with kubelet's default pod limit.
NODE_RESOURCES: dict[str, str] = {
    "cpu": "144",
    "memory": "960Gi",
    "pods": "110",
    "ephemeral-storage": "3Ti",
}

# Taints Kubernetes itself puts on nodes that are not (yet) usable; a node carrying one is not
# counted Ready even when its condition says so (the node lifecycle controller removes them).
_NOT_READY_TAINTS = frozenset({"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})

CREATE_WORKERS = 32
"""Parallel node creations (kube.POOL_SIZE connections): latency-bound, the API server handles this many in flight easily."""


class NodeCreateError(GigafactoryError):
    """The API server refused a simulated node."""


def capacity(node: Node) -> dict[str, str]:
    """Capacity and allocatable of a simulated node: the placeholders plus its pool's GPUs."""
    out = dict(NODE_RESOURCES)
    if node.gpus:
        out[GPU_RESOURCE] = str(node.gpus)
    return out


def manifest(pool: Pool, node: Node) -> dict[str, Any]:
    """The Node object for ``node``: exactly the model's labels and taints, its GPUs as
    capacity, its management address, and the annotation that hands it to KWOK."""
    resources = capacity(node)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": dict(node.labels),
            "annotations": {MANAGED_ANNOTATION: MANAGED_VALUE},
        },
        "spec": {"taints": [t.as_dict() for t in node.taints]},
        "status": {
            "capacity": resources,
            "allocatable": dict(resources),
            "addresses": [
                {"type": "InternalIP", "address": node.address},
                {"type": "Hostname", "address": node.name},
            ],
            # KWOK's node-ready stage keeps the architecture and fills in the rest.
            "nodeInfo": {"architecture": pool.spec.arch, "operatingSystem": "linux"},
        },
    }


def planned(cluster: Cluster) -> list[tuple[Pool, Node]]:
    """Every node of the cluster, pool by pool, in the model's order."""
    return [(pool, pool.node(i)) for pool in cluster.pools for i in range(pool.node_count)]


def manifests(cluster: Cluster) -> list[dict[str, Any]]:
    return [manifest(pool, node) for pool, node in planned(cluster)]


def create(api: client.ApiClient, objects: Sequence[dict[str, Any]], workers: int = CREATE_WORKERS) -> int:
    """Create ``objects`` in parallel; a node that already exists is left as it is.
    Returns how many were created. Raises NodeCreateError on the first refusal."""

    def one(body: dict[str, Any]) -> bool:
        code, data = kube.request(api, "POST", "/api/v1/nodes", body)
        if code == 409:
            return False
        if code >= 300:
            raise NodeCreateError(
                f"node {body['metadata']['name']}: the API server answered {code}: {kube.message(data)}"
            )
        return True

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(objects)))) as pool:
        return sum(pool.map(one, objects))


def is_ready(node: dict[str, Any]) -> bool:
    """Ready condition True and none of Kubernetes' not-ready taints: the scheduler may use it."""
    conditions = node.get("status", {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    taints = node.get("spec", {}).get("taints") or []
    return ready and not any(t.get("key") in _NOT_READY_TAINTS for t in taints)


@dataclass(frozen=True)
class PoolStatus:
    pool: str
    planned: int
    present: int
    ready: int

    def to_json(self) -> dict[str, Any]:
        return {"pool": self.pool, "planned": self.planned, "present": self.present, "ready": self.ready}


def list_nodes(api: client.ApiClient, cluster: Cluster) -> list[dict[str, Any]]:
    """The cluster's nodes in the API server (selected by the cluster label), as plain dicts."""
    selector = urllib.parse.quote(f"{LABEL_CLUSTER}={cluster.name}")
    # resourceVersion=0: served from the API server's watch cache, not a quorum read of etcd.
    code, data = kube.request(api, "GET", f"/api/v1/nodes?labelSelector={selector}&resourceVersion=0")
    if code != 200 or not isinstance(data, dict):
        raise NodeCreateError(f"listing nodes: the API server answered {code}: {kube.message(data)}")
    return list(data.get("items") or [])


def pool_status(cluster: Cluster, nodes: Iterable[dict[str, Any]]) -> list[PoolStatus]:
    """Nodes per pool: planned by the model, present in the API server, Ready."""
    present: dict[str, int] = {}
    ready: dict[str, int] = {}
    for node in nodes:
        pool = (node.get("metadata", {}).get("labels") or {}).get(LABEL_POOL, "")
        present[pool] = present.get(pool, 0) + 1
        if is_ready(node):
            ready[pool] = ready.get(pool, 0) + 1
    return [
        PoolStatus(p.name, p.node_count, present.get(p.name, 0), ready.get(p.name, 0)) for p in cluster.pools
    ]
