"""One node pool made real for workloads: its Kueue flavor, topology and cluster queue.

Everything here is read from the model's Pool (labels, taints, GPUs, topology levels);
nothing is counted per node, so a pool of 4,176 nodes costs the same few objects as a
pool of two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components import versions
from components._k8s import custom, meta
from gigafactory.site.model import GPU_RESOURCE, LABEL_CLUSTER, LABEL_POOL, LABEL_TENANT, Pool

KUEUE_API = versions.KUEUE_API


@dataclass(frozen=True)
class NodePoolArgs:
    """Inputs of one node pool."""

    pool: Pool
    """The pool from the site model: labels, taints, GPU count and topology levels."""
    kueue: pulumi.Resource | None
    """The release installing Kueue's CRDs; None when the environment provides Kueue."""
    contracted: int = 0
    """GPUs of the pool contracted to tenants (sum of their quotas on it): their own
    ClusterQueues hold these as nominal quota, so the pool's queue holds the rest. Default 0."""


class NodePool(pulumi.ComponentResource):
    """A Kueue ResourceFlavor per pool; for GPU pools also a Topology (hall, scalable unit,
    rack, host) and a ClusterQueue whose nominal GPU quota is the pool's GPUs not contracted
    to tenants (the tenants' ClusterQueues own the rest; docs/tenancy.md)."""

    flavor: str
    queue: str | None
    """ClusterQueue name, None for pools without GPUs."""
    gpus: int
    """GPUs of the pool."""
    unassigned: int
    """GPUs of the pool no tenant has contracted: the nominal quota of the pool's queue."""

    def __init__(self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gigafactory:node_pools:NodePool", name, None, opts)
        pool = args.pool
        labels = {LABEL_CLUSTER: pool.cluster, LABEL_POOL: pool.name}
        self.flavor = pool.kueue_name
        self.gpus = pool.gpus
        if not 0 <= args.contracted <= pool.gpus:
            raise ValueError(
                f"pool {pool.kueue_name}: {args.contracted} GPUs contracted to tenants, "
                f"allowed 0..{pool.gpus} (the site rule tenant-quota-within-pool says so first)"
            )
        self.unassigned = pool.gpus - args.contracted
        self.queue = None

        flavor_spec: dict[str, Any] = {
            "nodeLabels": dict(pool.labels),
            "nodeTaints": [t.as_dict() for t in pool.taints],
            # Kueue adds these to the pods it admits on this flavor, so tenants never
            # write GPU tolerations by hand.
            "tolerations": pool.tolerations,
        }
        kueue: list[pulumi.Resource] = [args.kueue] if args.kueue is not None else []
        deps = list(kueue)
        if pool.is_gpu:
            topology = custom(
                f"{name}-topology",
                self,
                api_version=KUEUE_API,
                kind="Topology",
                metadata=meta(pool.kueue_name, labels=labels),
                spec={"levels": [{"nodeLabel": level} for level in pool.topology_levels]},
                crd_release=kueue,
            )
            flavor_spec["topologyName"] = pool.kueue_name
            deps.append(topology)
        flavor = custom(
            f"{name}-flavor",
            self,
            api_version=KUEUE_API,
            kind="ResourceFlavor",
            metadata=meta(self.flavor, labels=labels),
            spec=flavor_spec,
            crd_release=deps,
        )
        if pool.is_gpu:
            self.queue = pool.kueue_name
            custom(
                f"{name}-queue",
                self,
                api_version=KUEUE_API,
                kind="ClusterQueue",
                metadata=meta(self.queue, labels=labels),
                spec={
                    # Platform namespaces (burn-in, system jobs) submit here directly; tenant
                    # namespaces (labelled by the tenant chart) only through their own
                    # ClusterQueue, which owns their contracted share.
                    "namespaceSelector": {
                        "matchExpressions": [{"key": LABEL_TENANT, "operator": "DoesNotExist"}]
                    },
                    # Pools and tenants of one cluster share a cohort: this queue may borrow
                    # every idle tenant GPU (no borrowingLimit) and lends its own remainder.
                    # What it borrows is taken back by the owner's reclaim (docs/tenancy.md).
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
                                    "name": self.flavor,
                                    # Quantities as strings, the form Kueue's webhook stores,
                                    # so a second `up` finds nothing to change.
                                    "resources": [
                                        {"name": GPU_RESOURCE, "nominalQuota": str(self.unassigned)}
                                    ],
                                }
                            ],
                        }
                    ],
                },
                crd_release=[*kueue, flavor],
            )
        self.register_outputs(
            {"flavor": self.flavor, "queue": self.queue, "gpus": self.gpus, "unassigned": self.unassigned}
        )
