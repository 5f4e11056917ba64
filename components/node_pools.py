"""One node pool made real for workloads: its Kueue flavor, topology and cluster queue.

The specs come from gigafactory.site.kueue (the one place they are written, which the
simulator uses too); everything in them is read from the model's Pool (labels, taints, GPUs,
topology levels). Nothing is counted per node, so a pool of 4,176 nodes costs the same few
objects as a pool of two.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components import versions
from components._k8s import custom, meta
from gigafactory.site import kueue as kueue_objects
from gigafactory.site.model import LABEL_CLUSTER, LABEL_POOL, Pool

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
        self.unassigned = kueue_objects.unassigned_gpus(pool, args.contracted)
        self.queue = None

        kueue: list[pulumi.Resource] = [args.kueue] if args.kueue is not None else []
        deps = list(kueue)
        if pool.is_gpu:
            topology = custom(
                f"{name}-topology",
                self,
                api_version=KUEUE_API,
                kind="Topology",
                metadata=meta(pool.kueue_name, labels=labels),
                spec=kueue_objects.topology_spec(pool),
                crd_release=kueue,
            )
            deps.append(topology)
        flavor = custom(
            f"{name}-flavor",
            self,
            api_version=KUEUE_API,
            kind="ResourceFlavor",
            metadata=meta(self.flavor, labels=labels),
            spec=kueue_objects.flavor_spec(pool),
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
                spec=kueue_objects.pool_queue_spec(pool, args.contracted),
                crd_release=[*kueue, flavor],
            )
        self.register_outputs(
            {"flavor": self.flavor, "queue": self.queue, "gpus": self.gpus, "unassigned": self.unassigned}
        )
