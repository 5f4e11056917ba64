"""One release of the project's tenant chart (charts/tenant) per tenant of the cluster,
plus the ClusterQueue that holds each tenant's GPU share.

The tenant's ClusterQueue joins the cluster's cohort with no GPUs of its own and may
borrow up to its quota per pool from the pool queues (which own all of the pool's GPUs),
so quotas never add up to more GPUs than the pools have.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components._k8s import custom, meta, object_meta, release
from gigafactory.site.model import GPU_RESOURCE, LABEL_TENANT, Cluster, Tenant

# Helm keeps the tenant releases' records here; each chart creates its own namespace.
RELEASE_NAMESPACE = "gigafactory-tenants"


def tenant_queue(tenant: Tenant) -> str:
    return f"tenant-{tenant.name}"


@dataclass(frozen=True)
class TenantsArgs:
    """Inputs of tenant onboarding."""

    cluster: Cluster
    """The cluster from the site model."""
    tenants: list[Tenant]
    """Tenants of this cluster (site model `tenants:` filtered by cluster)."""
    api_server_cidrs: list[str]
    """CIDRs of the Kubernetes API endpoints, allowed through the tenants' default deny."""
    kueue: pulumi.Resource | None
    """The release installing Kueue's CRDs; None when the environment provides Kueue."""
    pool_queues: list[pulumi.Resource]
    """The node pools (their flavors and ClusterQueues) the tenant queues borrow from."""
    chart_path: str = versions.TENANT_CHART_PATH
    """Path of the tenant chart, relative to the Pulumi project; default ./charts/tenant."""
    keep_namespaces: bool = True
    """Keep each tenant namespace (and its data) when its release is removed; default True."""

    after: Sequence[pulumi.Resource] = ()
    """Resources the component's releases wait for: the CNI on bare metal. Default: none."""


class Tenants(pulumi.ComponentResource):
    """Tenant ClusterQueues and one tenant chart release per tenant."""

    releases: list[k8s.helm.v3.Release]
    quotas: dict[str, dict[str, int]]
    """GPU quota per tenant and pool."""
    installed: dict[str, str]
    """Chart (or manifest) versions this component installs, by component name."""

    def __init__(self, name: str, args: TenantsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gigafactory:tenants:Tenants", name, None, opts)
        self.releases = []
        self.installed = {"tenant": versions.TENANT_CHART_VERSION} if args.tenants else {}
        self.quotas = {}
        kueue: list[pulumi.Resource] = [args.kueue] if args.kueue is not None else []
        # The namespace Helm keeps the releases' records in is the stack's own object, so
        # destroy removes it (a release's create_namespace would leave it behind).
        records: list[pulumi.Resource] = []
        if args.tenants:
            records.append(
                k8s.core.v1.Namespace(
                    f"{name}-releases-namespace",
                    metadata=object_meta(RELEASE_NAMESPACE),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
                )
            )
        for tenant in args.tenants:
            quotas = {q.pool: q.gpus for q in tenant.quotas}
            self.quotas[tenant.name] = quotas
            pools = [args.cluster.pool(p) for p in quotas]
            queue = custom(
                f"{name}-{tenant.name}-queue",
                self,
                api_version=versions.KUEUE_API,
                kind="ClusterQueue",
                metadata=meta(tenant_queue(tenant), labels={LABEL_TENANT: tenant.name}),
                spec={
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": tenant.namespace}},
                    "cohortName": args.cluster.name,
                    "queueingStrategy": "BestEffortFIFO",
                    "preemption": {"withinClusterQueue": "LowerPriority"},
                    "resourceGroups": [
                        {
                            "coveredResources": [GPU_RESOURCE],
                            "flavors": [
                                {
                                    "name": pool.kueue_name,
                                    "resources": [
                                        {
                                            "name": GPU_RESOURCE,
                                            # Quantities as strings, as Kueue stores them.
                                            "nominalQuota": "0",
                                            "borrowingLimit": str(quotas[pool.name]),
                                        }
                                    ],
                                }
                                for pool in pools
                            ],
                        }
                    ],
                },
                crd_release=[*kueue, *args.pool_queues],
            )
            values: dict[str, Any] = {
                "tenant": {"name": tenant.name, "namespace": tenant.namespace},
                "quota": {"gpus": tenant.gpus},
                # A container fits on one node, and never asks for more than the quota.
                "limitRange": {"maxGpusPerContainer": min(max(p.gpus_per_node for p in pools), tenant.gpus)},
                "kueue": {"enabled": True, "clusterQueue": tenant_queue(tenant)},
                "networkPolicy": {"enabled": True, "apiServer": {"cidrs": list(args.api_server_cidrs)}},
                "rbac": {"groups": [tenant.group]},
            }
            if not args.keep_namespaces:
                # The chart keeps the namespace by default (helm.sh/resource-policy: keep).
                values["tenant"]["keepNamespaceOnUninstall"] = False
            self.releases.append(
                release(
                    f"{name}-{tenant.name}",
                    self,
                    pin=versions.ChartPin(args.chart_path, None, versions.TENANT_CHART_VERSION),
                    namespace=RELEASE_NAMESPACE,
                    release_name=f"tenant-{tenant.name}",
                    values=values,
                    # The chart's LocalQueue needs Kueue's CRDs and the tenant's ClusterQueue.
                    depends_on=[*args.after, *kueue, *records, queue],
                    create_namespace=False,
                )
            )
        self.register_outputs({"tenants": self.quotas})
