"""Kueue's objects for a cluster, computed once from the model: the Topology, ResourceFlavor and
ClusterQueue of each pool, the ClusterQueue of each tenant, and the settings of Kueue's manager
that decide which jobs it manages and how fast it admits them.

The Pulumi components (components/node_pools.py, components/tenants.py,
components/scheduling.py), the simulator's Kueue (gigafactory.sim.kueue) and the simulator's
placement tests and benchmarks (gigafactory.sim.placement) build their objects from these specs
and nothing else. Who owns which GPUs is written down in docs/tenancy.md.

Quantities are strings, the form Kueue's webhook stores, so a second ``pulumi up`` finds nothing
to change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gigafactory.site.model import GPU_RESOURCE, LABEL_TENANT, Cluster, Pool, Tenant

KUEUE_NAMESPACE_LABEL = "gigafactory.io/kueue"
"""Label (value "true") of the namespaces whose jobs Kueue manages: every tenant namespace (the
tenant chart sets it) and the platform namespaces that submit to the pools' queues."""
MANAGED_JOBS_NAMESPACE_SELECTOR: dict[str, Any] = {"matchLabels": {KUEUE_NAMESPACE_LABEL: "true"}}
"""Namespaces whose jobs Kueue manages, with or without a queue name. Kueue 0.19 ignores jobs
outside them even when they name a queue (ManagedJobsNamespaceSelectorAlwaysRespected is locked
on), so the selector cannot be the tenant label alone: platform namespaces opt in by label."""
EXCLUDED_RESOURCES = ("cpu", "memory", "ephemeral-storage", "hugepages-")
"""Kueue manages GPU quota only: CPU, memory and storage of a GPU node come with its GPUs, so
they are left out of quota accounting (a tenant LimitRange's defaults need no quota)."""
TENANT_LOCAL_QUEUE = "default"
"""The LocalQueue the tenant chart makes in a tenant namespace (charts/tenant values
``kueue.localQueueName``); Kueue puts a Job without a queue name there."""

CLIENT_CONNECTION: dict[str, int] = {"qps": 300, "burst": 500}
"""Kueue's client rate limit against the API server: Kueue 0.19's own defaults, written down so
a change of release cannot lower them unnoticed (up to 0.18 they were 20 qps, burst 30: a few
admissions a second, since each is a Workload status write, the Job's unsuspend and events)."""
CONTROLLER_CONCURRENCY: dict[str, int] = {
    "Job.batch": 5,
    "Pod": 5,
    "Workload.kueue.x-k8s.io": 10,
    "LocalQueue.kueue.x-k8s.io": 5,
    "ClusterQueue.kueue.x-k8s.io": 5,
    "ResourceFlavor.kueue.x-k8s.io": 1,
}
"""Reconcile workers per kind, as Kueue's own chart sets them. A Configuration without
``controller.groupKindConcurrency`` (ours replaces the chart's whole file) gets one worker per
controller: Jobs become Workloads one at a time, ahead of any scheduling."""
FEATURE_GATES: dict[str, bool] = {
    # Reuse the topology tree of a TAS flavor across scheduling cycles while its nodes do not
    # change (alpha in 0.19, off by default). Without it every scheduling cycle, which admits
    # at most one workload per ClusterQueue, rebuilds the tree of every node of every TAS
    # flavor (4,176 for c1's pool train); measured on the simulator (docs/sim.md).
    "TASCacheTopologyTree": True,
}


def manager_settings() -> dict[str, Any]:
    """The parts of Kueue's Configuration (config.kueue.x-k8s.io/v1beta2) that are policy, the
    same for the platform's Kueue and the simulator's: which jobs Kueue manages, which
    resources it counts, how fast it may work (client rate limit, reconcile workers) and its
    feature gates. Endpoints, leader election and integrations are the installer's."""
    return {
        "clientConnection": dict(CLIENT_CONNECTION),
        "controller": {"groupKindConcurrency": dict(CONTROLLER_CONCURRENCY)},
        # No GPU job outside Kueue in tenant namespaces: a Job without a queue name is
        # suspended and queued to the namespace's LocalQueue "default" (the tenant chart's)
        # like any other. Only namespaces labelled gigafactory.io/kueue=true: system and
        # operator namespaces (and the burn-in, which runs on untested nodes) are left alone.
        "manageJobsWithoutQueueName": True,
        "managedJobsNamespaceSelector": MANAGED_JOBS_NAMESPACE_SELECTOR,
        "resources": {"excludeResourcePrefixes": list(EXCLUDED_RESOURCES)},
        "featureGates": dict(FEATURE_GATES),
    }


def topology_spec(pool: Pool) -> dict[str, Any]:
    """The Topology of a GPU pool: hall, scalable unit, rack, host (``Pool.topology_levels``)."""
    return {"levels": [{"nodeLabel": level} for level in pool.topology_levels]}


def flavor_spec(pool: Pool) -> dict[str, Any]:
    """The pool's ResourceFlavor: its nodes by label, its taints, the tolerations Kueue adds to
    the pods it admits on it (tenants never write GPU tolerations by hand) and, for GPU pools,
    the Topology named like the pool (every GPU workload gets a node assignment from TAS)."""
    spec: dict[str, Any] = {
        "nodeLabels": dict(pool.labels),
        "nodeTaints": [t.as_dict() for t in pool.taints],
        "tolerations": pool.tolerations,
    }
    if pool.is_gpu:
        spec["topologyName"] = pool.kueue_name
    return spec


def contracted_gpus(pool: Pool, tenants: Iterable[Tenant]) -> int:
    """GPUs of ``pool`` contracted to ``tenants`` (the sum of their quotas on it)."""
    return sum(q.gpus for t in tenants if t.cluster == pool.cluster for q in t.quotas if q.pool == pool.name)


def unassigned_gpus(pool: Pool, contracted: int) -> int:
    """The pool's GPUs no tenant has contracted: the nominal quota of the pool's queue.
    ValueError when the contracts do not fit the pool (the site rule tenant-quota-within-pool
    says so first)."""
    if not 0 <= contracted <= pool.gpus:
        raise ValueError(
            f"pool {pool.kueue_name}: {contracted} GPUs contracted to tenants, "
            f"allowed 0..{pool.gpus} (the site rule tenant-quota-within-pool says so first)"
        )
    return pool.gpus - contracted


def pool_queue_spec(pool: Pool, contracted: int) -> dict[str, Any]:
    """The ClusterQueue of a GPU pool: nominal quota = the pool's GPUs less the tenants'
    contracts (the tenants' ClusterQueues own those)."""
    return {
        # Platform namespaces (burn-in, system jobs) submit here directly; tenant namespaces
        # (labelled by the tenant chart) only through their own ClusterQueue, which owns their
        # contracted share.
        "namespaceSelector": {"matchExpressions": [{"key": LABEL_TENANT, "operator": "DoesNotExist"}]},
        # Pools and tenants of one cluster share a cohort: this queue may borrow every idle
        # tenant GPU (no borrowingLimit) and lends its own remainder. What it borrows is taken
        # back by the owner's reclaim (docs/tenancy.md).
        "cohortName": pool.cluster,
        "queueingStrategy": "BestEffortFIFO",
        "preemption": {
            "withinClusterQueue": "LowerPriority",
            # Reclaims its own remainder from any queue borrowing it.
            "reclaimWithinCohort": "Any",
            # Never preempts to borrow: a tenant's GPUs are only lent when idle.
            "borrowWithinCohort": {"policy": "Never"},
        },
        "resourceGroups": [
            {
                "coveredResources": [GPU_RESOURCE],
                "flavors": [
                    {
                        "name": pool.kueue_name,
                        "resources": [
                            {"name": GPU_RESOURCE, "nominalQuota": str(unassigned_gpus(pool, contracted))}
                        ],
                    }
                ],
            }
        ],
    }


def tenant_queue_name(tenant: Tenant) -> str:
    """The tenant's ClusterQueue (cluster-scoped)."""
    return f"tenant-{tenant.name}"


def tenant_queue_spec(cluster: Cluster, tenant: Tenant) -> dict[str, Any]:
    """The tenant's ClusterQueue: per pool its contract as nominal quota, lent when idle
    (``lendingLimit``: all of it), never exceeded (``borrowingLimit: 0``)."""
    quotas = {q.pool: q.gpus for q in tenant.quotas}
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": tenant.namespace}},
        "cohortName": cluster.name,
        "queueingStrategy": "BestEffortFIFO",
        "preemption": {
            # Its own jobs by priority class (components/scheduling.py).
            "withinClusterQueue": "LowerPriority",
            # Its contract back from any queue borrowing it, whatever the priority.
            "reclaimWithinCohort": "Any",
            "borrowWithinCohort": {"policy": "Never"},
        },
        "resourceGroups": [
            {
                "coveredResources": [GPU_RESOURCE],
                "flavors": [
                    {
                        "name": cluster.pool(pool).kueue_name,
                        "resources": [
                            {
                                "name": GPU_RESOURCE,
                                "nominalQuota": str(gpus),
                                "borrowingLimit": "0",
                                "lendingLimit": str(gpus),
                            }
                        ],
                    }
                    for pool, gpus in quotas.items()
                ],
            }
        ],
    }
