"""GpuCluster: the composition root for one cluster of a site."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components import versions
from components.cni import Cni, CniArgs
from components.gpu_operator import GpuOperator, GpuOperatorArgs
from components.network_operator import NetworkOperator, NetworkOperatorArgs
from components.networking import Networking, NetworkingArgs
from components.node_pools import NodePool, NodePoolArgs
from components.observability import Observability, ObservabilityArgs
from components.scheduling import Scheduling, SchedulingArgs
from components.storage import Storage, StorageArgs
from components.tenants import Tenants, TenantsArgs
from gigafactory.baremetal.fabric import guid_pool
from gigafactory.site.addressing import control_plane_hosts
from gigafactory.site.model import Cluster, Site


def api_server_cidrs(site: Site, cluster: Cluster) -> list[str]:
    """The API server's endpoints as tenants' network policies allow them: a /32 per
    control-plane host of ``cluster`` (its address in the plan), never a whole hall network."""
    return [f"{h.address}/32" for h in control_plane_hosts(site) if h.cluster == cluster.name]


@dataclass(frozen=True)
class GpuClusterArgs:
    """Everything one stack needs: the model plus the few per-stack settings."""

    site: Site
    """The validated site model."""
    cluster: Cluster
    """The cluster of ``site`` this stack installs."""
    host_drivers: bool
    """NVIDIA driver, container toolkit and DOCA-OFED preinstalled on the hosts by the
    Ansible playbooks; False lets the operators install them. Bare metal only."""
    api_server_cidrs: list[str]
    """API server endpoint CIDRs tenants may reach; empty: a /32 per control-plane host of
    the cluster in the address plan (gigafactory.site.addressing.control_plane_hosts)."""
    ib_subnet: str
    """IPoIB address range of this cluster (bare metal)."""
    nfs_server: str
    """Shared file system server (bare metal); empty: none."""
    nfs_share: str
    """Exported path on the NFS server (bare metal)."""
    tenant_chart: str = versions.TENANT_CHART_PATH
    """Path of the tenant chart relative to the Pulumi project."""
    provided: frozenset[str] = frozenset()
    """Parts the environment already has (``PROVIDABLE_PARTS`` of gigafactory.stack.config:
    cni, observability, kueue, gpu, network-operator, storage): not installed here. Default: none."""
    keep_tenant_namespaces: bool = True
    """Keep tenant namespaces (and their data) when the stack is destroyed. Default: True."""
    # Defaults of the settings above are declared once, in Pulumi.yaml (gigafactory.stack.config).


class GpuCluster(pulumi.ComponentResource):
    """The platform of one cluster: CNI, observability, scheduling, node pools, GPU stack,
    network operator (bare metal), storage, tenants and secondary networking."""

    pools: dict[str, dict[str, object]]
    """Per pool: role, nodes, GPUs, Kueue flavor and queue."""
    gpus: int
    installed: dict[str, str]
    """Chart versions installed by this stack."""
    provided: list[str]
    """Parts left to the environment, as the stack config names them."""
    summary: dict[str, object]
    """Site, cluster, platform, GPU mode and driver, CNI, storage classes, tenant quotas."""

    def __init__(self, name: str, args: GpuClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gigafactory:cluster:GpuCluster", name, None, opts)
        site, cluster = args.site, args.cluster
        child = pulumi.ResourceOptions(parent=self)
        tenants = [t for t in site.tenants if t.cluster == cluster.name]
        cidrs = args.api_server_cidrs or api_server_cidrs(site, cluster)

        # The CNI first: on bare metal no other release's pods start without it.
        provided = args.provided
        cni = Cni(f"{name}-cni", CniArgs(cluster, provided="cni" in provided), child)
        after = cni.ready
        # A part the environment provides is not built at all, nor are the objects whose
        # CRDs only its chart brings (ServiceMonitors and rules without the Prometheus stack).
        observability = (
            None
            if "observability" in provided
            else Observability(f"{name}-observability", ObservabilityArgs(cluster, after=after), child)
        )
        monitoring = observability.release if observability is not None else None
        scheduling = Scheduling(
            f"{name}-scheduling",
            SchedulingArgs(cluster, monitoring=monitoring, after=after, kueue_provided="kueue" in provided),
            child,
        )
        node_pools = [
            NodePool(
                f"{name}-pool-{pool.name}",
                NodePoolArgs(
                    pool,
                    scheduling.kueue,
                    contracted=sum(q.gpus for t in tenants for q in t.quotas if q.pool == pool.name),
                ),
                child,
            )
            for pool in cluster.pools
        ]
        gpu = (
            None
            if "gpu" in provided
            else GpuOperator(
                f"{name}-gpu",
                GpuOperatorArgs(cluster, host_drivers=args.host_drivers, monitoring=monitoring, after=after),
                child,
            )
        )
        network_operator = (
            NetworkOperator(
                f"{name}-network-operator",
                NetworkOperatorArgs(
                    cluster, host_drivers=args.host_drivers, guid_pool=guid_pool(site, cluster), after=after
                ),
                child,
            )
            if cluster.platform == "baremetal" and "network-operator" not in provided
            else None
        )
        storage = (
            None
            if "storage" in provided
            else Storage(
                f"{name}-storage",
                StorageArgs(cluster, nfs_server=args.nfs_server, nfs_share=args.nfs_share, after=after),
                child,
            )
        )
        tenant_stack = Tenants(
            f"{name}-tenants",
            TenantsArgs(
                cluster,
                tenants,
                api_server_cidrs=cidrs,
                kueue=scheduling.kueue,
                pool_queues=list(node_pools),
                chart_path=args.tenant_chart,
                keep_namespaces=args.keep_tenant_namespaces,
                after=after,
            ),
            child,
        )
        networking = Networking(
            f"{name}-networking",
            NetworkingArgs(
                cluster,
                tenants,
                network_operator=network_operator,
                ib_subnet=args.ib_subnet,
                tenant_releases=list(tenant_stack.releases),
            ),
            child,
        )

        self.gpus = cluster.gpus
        self.pools = {
            pool.name: {
                "role": pool.role,
                "sku": pool.sku,
                "nodes": pool.node_count,
                "gpus": pool.gpus,
                "flavor": np.flavor,
                "queue": np.queue,
            }
            for pool, np in zip(cluster.pools, node_pools, strict=True)
        }
        self.provided = sorted(provided)
        self.installed = {}
        for part in (cni, observability, scheduling, gpu, network_operator, storage, tenant_stack):
            if part is not None:
                self.installed.update(part.installed)
        self.summary = {
            "site": site.name,
            "cluster": cluster.name,
            "platform": cluster.platform,
            "gpus": self.gpus,
            "gpuMode": gpu.mode if gpu is not None else "provided",
            "gpuDriver": gpu.driver if gpu is not None else "none",
            "computeDomains": gpu.compute_domains if gpu is not None else False,
            "cni": cni.name,
            "ibNetworks": networking.ib_networks,
            "storageClasses": storage.classes if storage is not None else [],
            "provided": self.provided,
            "tenants": tenant_stack.quotas,
        }
        self.register_outputs({"pools": self.pools, "installed": self.installed, **self.summary})
