"""Kueue's objects for a cluster on the simulator, and GPU jobs placed by Kueue's topology-aware
scheduling (TAS).

The objects mirror what the stack's components create (components/node_pools.py,
components/tenants.py) from the same model functions: per GPU pool a Topology with
``Pool.topology_levels``, a ResourceFlavor named ``Pool.kueue_name`` with the pool's labels,
taints, tolerations and ``topologyName``, and a ClusterQueue owning all the pool's GPUs in the
cluster's cohort; per tenant a namespace (labelled with the tenant), a ClusterQueue with no GPUs
of its own that may borrow up to its quota, and a LocalQueue. They are used by the scale tests
and benchmarks when the stack has not been applied through the engine; created with plain JSON
requests, so nothing here needs Pulumi.
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
KUEUE_NAMESPACE_LABELS = {"gigafactory.io/kueue": "true"}
"""Namespaces whose jobs Kueue manages carry this label (as the platform's Kueue selects them)."""
IMAGE = "registry.invalid/sim/sleep:1"
"""Never pulled: KWOK runs pods without images."""


class PlacementError(GigafactoryError):
    """The API server refused an object, or a job did not reach the state waited for."""


def tenant_queue(tenant: Tenant) -> str:
    """The tenant's ClusterQueue name (components.tenants.tenant_queue)."""
    return f"tenant-{tenant.name}"


def local_queue(tenant: Tenant) -> str:
    """The tenant's LocalQueue name (the tenant chart's)."""
    return tenant.name


def pool_objects(pool: Pool) -> list[dict[str, Any]]:
    """Topology, ResourceFlavor and ClusterQueue of a GPU pool (components/node_pools.py)."""
    labels = {LABEL_CLUSTER: pool.cluster, LABEL_POOL: pool.name}
    meta = {"name": pool.kueue_name, "labels": labels}
    return [
        {
            "apiVersion": KUEUE_API,
            "kind": "Topology",
            "metadata": meta,
            "spec": {"levels": [{"nodeLabel": level} for level in pool.topology_levels]},
        },
        {
            "apiVersion": KUEUE_API,
            "kind": "ResourceFlavor",
            "metadata": meta,
            "spec": {
                "nodeLabels": dict(pool.labels),
                "nodeTaints": [t.as_dict() for t in pool.taints],
                "tolerations": pool.tolerations,
                "topologyName": pool.kueue_name,
            },
        },
        {
            "apiVersion": KUEUE_API,
            "kind": "ClusterQueue",
            "metadata": meta,
            "spec": {
                "namespaceSelector": {
                    "matchExpressions": [{"key": LABEL_TENANT, "operator": "DoesNotExist"}]
                },
                "cohortName": pool.cluster,
                "queueingStrategy": "BestEffortFIFO",
                "preemption": {"withinClusterQueue": "LowerPriority", "reclaimWithinCohort": "Any"},
                "resourceGroups": [
                    {
                        "coveredResources": [GPU_RESOURCE],
                        "flavors": [
                            {
                                "name": pool.kueue_name,
                                "resources": [{"name": GPU_RESOURCE, "nominalQuota": str(pool.gpus)}],
                            }
                        ],
                    }
                ],
            },
        },
    ]


def tenant_objects(cluster: Cluster, tenant: Tenant) -> list[dict[str, Any]]:
    """Namespace, ClusterQueue (borrowing up to the quota per pool) and LocalQueue of a tenant
    (components/tenants.py and the tenant chart)."""
    quotas = {q.pool: q.gpus for q in tenant.quotas}
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
            "spec": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": tenant.namespace}},
                "cohortName": cluster.name,
                "queueingStrategy": "BestEffortFIFO",
                "preemption": {"withinClusterQueue": "LowerPriority"},
                "resourceGroups": [
                    {
                        "coveredResources": [GPU_RESOURCE],
                        "flavors": [
                            {
                                "name": cluster.pool(pool).kueue_name,
                                "resources": [
                                    {"name": GPU_RESOURCE, "nominalQuota": "0", "borrowingLimit": str(gpus)}
                                ],
                            }
                            for pool, gpus in quotas.items()
                        ],
                    }
                ],
            },
        },
        {
            "apiVersion": KUEUE_API,
            "kind": "LocalQueue",
            "metadata": {"name": local_queue(tenant), "namespace": tenant.namespace},
            "spec": {"clusterQueue": tenant_queue(tenant)},
        },
    ]


def cluster_objects(cluster: Cluster, tenants: Iterable[Tenant]) -> list[dict[str, Any]]:
    """Every GPU pool's Kueue objects, then every tenant's."""
    out = [o for pool in cluster.gpu_pools for o in pool_objects(pool)]
    return out + [o for t in tenants for o in tenant_objects(cluster, t)]


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


def apply(api: client.ApiClient, objects: Sequence[dict[str, Any]], attempts: int = 30) -> None:
    """Create each object in order (an existing one is left as it is); retried while Kueue's
    webhooks are not answering yet."""
    for obj in objects:
        for attempt in range(attempts):
            code, data = kube.request(api, "POST", path(obj), obj)
            if code < 300 or code == 409:
                break
            if attempt == attempts - 1 or code not in (500, 503, 404):
                raise PlacementError(
                    f"{obj['kind']} {obj['metadata']['name']}: the API server answered {code}: "
                    f"{kube.message(data)}"
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
