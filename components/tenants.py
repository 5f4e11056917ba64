"""One release of the project's tenant chart (charts/tenant) per tenant of the cluster,
plus the ClusterQueue that owns each tenant's GPU contract.

The tenant's ClusterQueue holds its contracted GPUs per pool as nominal quota; the pool's
queue holds only the remainder (components/node_pools.py), so quotas add up to exactly the
pool's GPUs. Idle contracted GPUs are lent to the cohort; a tenant takes them back by
preempting whatever borrows them (``reclaimWithinCohort: Any``), within the bound
docs/tenancy.md gives. The tenant never borrows beyond its contract (``borrowingLimit: 0``;
its namespace's ResourceQuota is the same ceiling). The ClusterQueue's spec comes from
gigafactory.site.kueue, which the simulator's placement tests use too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components._k8s import custom, meta, object_meta, release
from gigafactory.site import kueue as kueue_objects
from gigafactory.site.model import GPU_RESOURCE, LABEL_TENANT, Cluster, Tenant

# Helm keeps the tenant releases' records here; each chart creates its own namespace.
RELEASE_NAMESPACE = "gigafactory-tenants"

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
"""The label that puts a workload in a LocalQueue (the tenant chart's is ``default``)."""
GPU_ADMISSION_POLICY = "gigafactory-gpu-pods-through-kueue"
GPU_ADMISSION_MESSAGE = (
    "GPU pods in tenant namespaces go through Kueue: submit a Job (Kueue admits it against "
    f"the tenant's contract) or label the pod {QUEUE_LABEL}"
)
"""What the API server answers a GPU pod in a tenant namespace that no queue manages."""

# CEL over a Pod. A pod is Kueue's when it carries a queue label (Kueue's pod integration)
# or a Job owns it: Kueue manages every Job of a tenant namespace, queue name or not
# (manageJobsWithoutQueueName with the tenant label as managedJobsNamespaceSelector;
# components/scheduling.py), so a Job's pods exist only once Kueue admitted it. JobSets,
# PyTorchJobs and LeaderWorkerSets reach their pods through Jobs or their own integration.
# The policy sees the pod after the LimitRange's defaults (nvidia.com/gpu: 0), so a GPU is
# a quantity above zero, not a key present.
_GPU_ABOVE_ZERO = f"quantity(r['{GPU_RESOURCE}']).isGreaterThan(quantity('0'))"
_ASKS_GPU = (
    "object.spec.containers.exists(c, has(c.resources) && ("
    f"(has(c.resources.requests) && '{GPU_RESOURCE}' in c.resources.requests && "
    f"[c.resources.requests].all(r, {_GPU_ABOVE_ZERO})) || "
    f"(has(c.resources.limits) && '{GPU_RESOURCE}' in c.resources.limits && "
    f"[c.resources.limits].all(r, {_GPU_ABOVE_ZERO}))))"
)
_KUEUE_MANAGED = (
    f"(has(object.metadata.labels) && '{QUEUE_LABEL}' in object.metadata.labels) || "
    "(has(object.metadata.ownerReferences) && object.metadata.ownerReferences.exists(o, "
    "o.apiVersion == 'batch/v1' && o.kind == 'Job' && has(o.controller) && o.controller))"
)
GPU_ADMISSION_EXPRESSION = f"!({_ASKS_GPU}) || {_KUEUE_MANAGED}"


def tenant_queue(tenant: Tenant) -> str:
    return kueue_objects.tenant_queue_name(tenant)


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
                spec=kueue_objects.tenant_queue_spec(args.cluster, tenant),
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
            if args.cluster.platform == "baremetal" and tenant.gpus > 0:
                # NCCL over InfiniBand pins memory: IPC_LOCK on top of baseline, nothing more.
                values["rdma"] = {"ipcLock": True}
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
        if args.tenants:
            self._gpu_admission_policy(name, records)
        self.register_outputs({"tenants": self.quotas})

    def _gpu_admission_policy(self, name: str, after: list[pulumi.Resource]) -> None:
        """A ValidatingAdmissionPolicy and its binding, enforced by the API server itself (no
        webhook to be down): pods asking for GPUs in namespaces with the tenant label are
        refused unless Kueue manages them."""
        adm = k8s.admissionregistration.v1
        policy = adm.ValidatingAdmissionPolicy(
            f"{name}-gpu-admission-policy",
            metadata=object_meta(GPU_ADMISSION_POLICY),
            spec=adm.ValidatingAdmissionPolicySpecArgs(
                failure_policy="Fail",
                match_constraints=adm.MatchResourcesArgs(
                    resource_rules=[
                        adm.NamedRuleWithOperationsArgs(
                            api_groups=[""],
                            api_versions=["v1"],
                            operations=["CREATE"],
                            resources=["pods"],
                        )
                    ]
                ),
                validations=[
                    adm.ValidationArgs(
                        expression=GPU_ADMISSION_EXPRESSION,
                        message=GPU_ADMISSION_MESSAGE,
                        reason="Forbidden",
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )
        adm.ValidatingAdmissionPolicyBinding(
            f"{name}-gpu-admission-binding",
            metadata=object_meta(GPU_ADMISSION_POLICY),
            spec=adm.ValidatingAdmissionPolicyBindingSpecArgs(
                policy_name=GPU_ADMISSION_POLICY,
                validation_actions=["Deny"],
                match_resources=adm.MatchResourcesArgs(
                    namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                        match_expressions=[
                            k8s.meta.v1.LabelSelectorRequirementArgs(key=LABEL_TENANT, operator="Exists")
                        ]
                    )
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
