"""Kueue's objects for a cluster on the simulator, and GPU jobs placed by Kueue's topology-aware
scheduling (TAS).

The objects are the stack's: their specs come from gigafactory.site.kueue, the one place the
components (components/node_pools.py, components/tenants.py) take them from too. Per GPU pool a
Topology, a ResourceFlavor named ``Pool.kueue_name`` with ``topologyName``, and a ClusterQueue in
the cluster's cohort whose nominal quota is the pool's GPUs less the tenants' contracts; per
tenant a namespace (labelled with the tenant, opted in to Kueue), a ClusterQueue owning its
contract as nominal quota (lent when idle, never exceeded: docs/tenancy.md) and the LocalQueue
the tenant chart makes. They are used by the scale tests and benchmarks when the stack has not
been applied through the engine; created with plain JSON requests, so nothing here needs Pulumi.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from gigafactory.errors import GigafactoryError
from gigafactory.sim import kube
from gigafactory.site import kueue as kueue_objects
from gigafactory.site.model import (
    GPU_RESOURCE,
    LABEL_CLUSTER,
    LABEL_POOL,
    LABEL_RACK,
    LABEL_SU,
    LABEL_TENANT,
    Cluster,
    Pool,
    Tenant,
)

KUEUE_API = "kueue.x-k8s.io/v1beta2"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
REQUIRED_TOPOLOGY = "kueue.x-k8s.io/podset-required-topology"
PREFERRED_TOPOLOGY = "kueue.x-k8s.io/podset-preferred-topology"
JOB_LABEL = "gigafactory.io/sim-job"
"""Label on every pod of a job made here (the Job's name), to find its pods."""
KUEUE_NAMESPACE_LABELS = {kueue_objects.KUEUE_NAMESPACE_LABEL: "true"}
"""Namespaces whose jobs Kueue manages carry this label (as the platform's Kueue selects them)."""
IMAGE = "registry.invalid/sim/sleep:1"
"""Never pulled: KWOK runs pods without images."""


class PlacementError(GigafactoryError):
    """The API server refused an object, or a job did not reach the state waited for."""


def tenant_queue(tenant: Tenant) -> str:
    """The tenant's ClusterQueue name."""
    return kueue_objects.tenant_queue_name(tenant)


def local_queue(tenant: Tenant) -> str:
    """The tenant's LocalQueue name (the tenant chart's)."""
    return kueue_objects.TENANT_LOCAL_QUEUE


def pool_objects(pool: Pool, contracted: int = 0) -> list[dict[str, Any]]:
    """Topology, ResourceFlavor and ClusterQueue of a GPU pool of which ``contracted`` GPUs
    belong to tenants (components/node_pools.py)."""
    labels = {LABEL_CLUSTER: pool.cluster, LABEL_POOL: pool.name}
    meta = {"name": pool.kueue_name, "labels": labels}
    return [
        {
            "apiVersion": KUEUE_API,
            "kind": "Topology",
            "metadata": meta,
            "spec": kueue_objects.topology_spec(pool),
        },
        {
            "apiVersion": KUEUE_API,
            "kind": "ResourceFlavor",
            "metadata": meta,
            "spec": kueue_objects.flavor_spec(pool),
        },
        {
            "apiVersion": KUEUE_API,
            "kind": "ClusterQueue",
            "metadata": meta,
            "spec": kueue_objects.pool_queue_spec(pool, contracted),
        },
    ]


def tenant_objects(cluster: Cluster, tenant: Tenant) -> list[dict[str, Any]]:
    """Namespace, ClusterQueue (owning the contract) and LocalQueue of a tenant
    (components/tenants.py and the tenant chart)."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": tenant.namespace,
                "labels": {LABEL_TENANT: tenant.name, **KUEUE_NAMESPACE_LABELS},
            },
        },
        {
            "apiVersion": KUEUE_API,
            "kind": "ClusterQueue",
            "metadata": {"name": tenant_queue(tenant), "labels": {LABEL_TENANT: tenant.name}},
            "spec": kueue_objects.tenant_queue_spec(cluster, tenant),
        },
        {
            "apiVersion": KUEUE_API,
            "kind": "LocalQueue",
            "metadata": {"name": local_queue(tenant), "namespace": tenant.namespace},
            "spec": {"clusterQueue": tenant_queue(tenant)},
        },
    ]


def cluster_objects(cluster: Cluster, tenants: Iterable[Tenant]) -> list[dict[str, Any]]:
    """Every GPU pool's Kueue objects (each queue holding what ``tenants`` have not contracted),
    then every tenant's."""
    chosen = [t for t in tenants if t.cluster == cluster.name]
    out = [
        o
        for pool in cluster.gpu_pools
        for o in pool_objects(pool, kueue_objects.contracted_gpus(pool, chosen))
    ]
    return out + [o for t in chosen for o in tenant_objects(cluster, t)]


def pool_queues(cluster: Cluster, tenants: Iterable[Tenant]) -> list[dict[str, Any]]:
    """The GPU pools' ClusterQueues alone, for ``tenants`` (to update when tenants come or go)."""
    return [o for o in cluster_objects(cluster, tenants) if o["kind"] == "ClusterQueue" and not _is_tenant(o)]


def _is_tenant(obj: dict[str, Any]) -> bool:
    return LABEL_TENANT in (obj.get("metadata", {}).get("labels") or {})


_PLURALS = {
    "Namespace": "namespaces",
    "Topology": "topologies",
    "ResourceFlavor": "resourceflavors",
    "ClusterQueue": "clusterqueues",
    "LocalQueue": "localqueues",
    "Job": "jobs",
}


def path(obj: dict[str, Any], name: str | None = None) -> str:
    """REST collection path of ``obj`` (or of the named object)."""
    api = obj["apiVersion"]
    base = f"/api/{api}" if "/" not in api else f"/apis/{api}"
    ns = obj.get("metadata", {}).get("namespace")
    out = f"{base}/namespaces/{ns}" if ns else base
    out += f"/{_PLURALS[obj['kind']]}"
    return f"{out}/{name}" if name else out


def apply(
    api: client.ApiClient, objects: Sequence[dict[str, Any]], attempts: int = 30, *, update: bool = False
) -> None:
    """Create each object in order; an existing one is left as it is, or with ``update`` given
    the object's spec (a merge patch: lists such as a queue's resource groups are replaced
    whole). Retried while Kueue's webhooks are not answering yet."""
    for obj in objects:
        name = obj["metadata"]["name"]
        for attempt in range(attempts):
            code, data = kube.request(api, "POST", path(obj), obj)
            if code == 409 and update and "spec" in obj:
                code, data = kube.request(
                    api,
                    "PATCH",
                    path(obj, name),
                    {"spec": obj["spec"]},
                    content_type="application/merge-patch+json",
                )
            if code < 300 or code == 409:
                break
            if attempt == attempts - 1 or code not in (500, 503, 404):
                raise PlacementError(
                    f"{obj['kind']} {name}: the API server answered {code}: {kube.message(data)}"
                )
            time.sleep(1.0)


def delete(api: client.ApiClient, objects: Sequence[dict[str, Any]]) -> None:
    """Delete each object (reverse order, foreground for Jobs); missing ones are fine."""
    for obj in reversed(objects):
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        kube.request(api, "DELETE", path(obj, obj["metadata"]["name"]), body)


def job(
    name: str,
    namespace: str,
    queue: str,
    pods: int,
    gpus_per_pod: int,
    level: str | None,
    *,
    required: bool = True,
) -> dict[str, Any]:
    """A suspended GPU Job for Kueue: ``pods`` pods of ``gpus_per_pod`` GPUs, all of them in one
    domain of topology ``level`` (required or preferred; None: no topology request)."""
    annotations = {}
    if level:
        annotations[REQUIRED_TOPOLOGY if required else PREFERRED_TOPOLOGY] = level
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": {QUEUE_LABEL: queue}},
        "spec": {
            "suspend": True,
            "parallelism": pods,
            "completions": pods,
            "completionMode": "Indexed",
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {JOB_LABEL: name}, "annotations": annotations},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "train",
                            "image": IMAGE,
                            "resources": {
                                "requests": {GPU_RESOURCE: str(gpus_per_pod)},
                                "limits": {GPU_RESOURCE: str(gpus_per_pod)},
                            },
                        }
                    ],
                },
            },
        },
    }


def submit(api: client.ApiClient, jobs: Sequence[dict[str, Any]], workers: int = 16) -> None:
    """Create the jobs in parallel."""

    def one(body: dict[str, Any]) -> None:
        code, data = kube.request(api, "POST", path(body), body)
        if code >= 300:
            raise PlacementError(f"job {body['metadata']['name']}: {code}: {kube.message(data)}")

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs)))) as pool:
        list(pool.map(one, jobs))


def workloads(api: client.ApiClient, namespace: str) -> list[dict[str, Any]]:
    """Kueue's Workloads in ``namespace``."""
    code, data = kube.request(api, "GET", f"/apis/{KUEUE_API}/namespaces/{namespace}/workloads")
    if code != 200 or not isinstance(data, dict):
        raise PlacementError(f"listing workloads: {code}: {kube.message(data)}")
    return list(data.get("items") or [])


def job_of(workload: dict[str, Any]) -> str:
    """The Job name owning a Workload ('' when none)."""
    for ref in workload.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("kind") == "Job":
            return str(ref.get("name"))
    return ""


def condition(workload: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for c in workload.get("status", {}).get("conditions") or []:
        if c.get("type") == kind:
            return dict(c)
    return None


def admitted(workload: dict[str, Any]) -> bool:
    c = condition(workload, "Admitted")
    return bool(c and c.get("status") == "True")


def pods(api: client.ApiClient, namespace: str, name: str | None = None) -> list[dict[str, Any]]:
    """Pods of a job made here (all such jobs' pods when ``name`` is None)."""
    selector = f"{JOB_LABEL}={name}" if name else JOB_LABEL
    q = urllib.parse.quote(selector)
    code, data = kube.request(api, "GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector={q}")
    if code != 200 or not isinstance(data, dict):
        raise PlacementError(f"listing pods: {code}: {kube.message(data)}")
    return list(data.get("items") or [])


@dataclass(frozen=True)
class Placement:
    """Where a job's pods run: node, rack and scalable unit of each bound pod."""

    job: str
    pods: int
    bound: int
    nodes: tuple[str, ...]
    racks: frozenset[str]
    sus: frozenset[str]


def placement(
    api: client.ApiClient, namespace: str, name: str, node_labels: dict[str, dict[str, str]]
) -> Placement:
    """The job's pods and the racks and SUs of the nodes they are bound to."""
    items = pods(api, namespace, name)
    nodes = tuple(sorted(p["spec"]["nodeName"] for p in items if p.get("spec", {}).get("nodeName")))
    return Placement(
        job=name,
        pods=len(items),
        bound=len(nodes),
        nodes=nodes,
        racks=frozenset(node_labels[n].get(LABEL_RACK, "") for n in nodes),
        sus=frozenset(node_labels[n].get(LABEL_SU, "") for n in nodes),
    )


def node_labels(cluster: Cluster) -> dict[str, dict[str, str]]:
    """Node name -> labels, from the model (what the simulator created)."""
    out: dict[str, dict[str, str]] = {}
    for pool in cluster.pools:
        for i in range(pool.node_count):
            node = pool.node(i)
            out[node.name] = dict(node.labels)
    return out


def wait(
    check: Any,
    timeout: float,
    what: str,
    interval: float = 0.5,
) -> Any:
    """Call ``check()`` until it returns something truthy; PlacementError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise PlacementError(f"{what}: not after {timeout:.0f} s")
        time.sleep(interval)
