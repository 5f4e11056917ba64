"""Cluster networking: the CNI per platform and, on bare metal, a secondary InfiniBand
(IPoIB) network per tenant and GPU pool for NCCL's bootstrap and RDMA traffic.

Default-deny network policies for tenant namespaces come with the tenant chart (see
components/tenants.py), next to the namespace they protect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi

from components import versions
from components._k8s import custom, meta, release
from components.network_operator import NAMESPACE as NETWORK_OPERATOR_NAMESPACE
from components.network_operator import NetworkOperator
from gigafactory.model import LABEL_POOL, LABEL_ROLE, Cluster, Tenant

# CNI per platform: kind ships kindnet (which enforces NetworkPolicy); minikube is
# started with its Cilium CNI (docs/pulumi.md); bare metal gets Cilium from this program.
CNI = {"baremetal": "cilium", "kind": "kindnet", "minikube": "cilium"}
# Addresses per node in the IPoIB pool: GPUs per tray plus headroom (a choice).
IB_BLOCK_PER_NODE = 8


@dataclass(frozen=True)
class NetworkingArgs:
    """Inputs of cluster networking."""

    cluster: Cluster
    """The cluster from the site model."""
    tenants: list[Tenant]
    """Tenants of this cluster: each gets an IPoIB attachment per GPU pool it uses."""
    network_operator: NetworkOperator | None
    """The Network Operator (bare metal); None on kind / minikube."""
    ib_interface: str
    """Host interface name of the IPoIB parent, e.g. ib0 (set by the host's udev rules)."""
    ib_subnet: str
    """IPv4 CIDR for IPoIB addresses of this cluster, e.g. 100.64.0.0/16."""
    tenant_releases: list[pulumi.Resource]
    """Tenant releases (they create the namespaces the attachments live in)."""


class Networking(pulumi.ComponentResource):
    """Cilium on bare metal; IPoIB networks and NVIDIA IPAM pools for GPU pools."""

    cni: str
    ib_networks: list[str]

    def __init__(self, name: str, args: NetworkingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gigafactory:networking:Networking", name, None, opts)
        cluster = args.cluster
        self.cni = CNI[cluster.platform]
        self.ib_networks = []
        if cluster.platform == "baremetal":
            release(
                f"{name}-cilium",
                self,
                chart=versions.CILIUM_CHART,
                repo=versions.CILIUM_REPO,
                version=versions.CILIUM_VERSION,
                namespace="kube-system",
                values={
                    # Multus (Network Operator) chains secondary networks: Cilium must not
                    # own /etc/cni/net.d alone.
                    "cni": {"exclusive": False},
                    "ipam": {"mode": "kubernetes"},
                    "hubble": {"enabled": True},
                    "operator": {"nodeSelector": {LABEL_ROLE: "system"}},
                },
            )
        if args.network_operator is not None:
            netop = args.network_operator
            for pool in cluster.gpu_pools:
                pool_name = f"{cluster.name}-{pool.name}-ib"
                ip_pool = custom(
                    f"{name}-{pool.name}-ippool",
                    self,
                    api_version="nv-ipam.nvidia.com/v1alpha1",
                    kind="IPPool",
                    metadata=meta(pool_name, NETWORK_OPERATOR_NAMESPACE),
                    spec={
                        "subnet": args.ib_subnet,
                        "perNodeBlockSize": IB_BLOCK_PER_NODE,
                        "nodeSelector": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": LABEL_POOL, "operator": "In", "values": [pool.name]}
                                    ]
                                }
                            ]
                        },
                    },
                    crd_release=[netop.release, netop.policy],
                )
                for tenant in args.tenants:
                    if pool.name not in {q.pool for q in tenant.quotas}:
                        continue
                    ipam: dict[str, Any] = {"type": "nv-ipam", "poolName": pool_name}
                    net = f"{pool.name}-ib"
                    custom(
                        f"{name}-{tenant.name}-{pool.name}-ib",
                        self,
                        api_version="mellanox.com/v1alpha1",
                        kind="IPoIBNetwork",
                        metadata=meta(f"{tenant.name}-{net}"),
                        spec={
                            "networkNamespace": tenant.namespace,
                            "master": args.ib_interface,
                            "ipam": json.dumps(ipam),
                        },
                        crd_release=[netop.release, netop.policy, ip_pool, *args.tenant_releases],
                    )
                    self.ib_networks.append(f"{tenant.namespace}/{tenant.name}-{net}")
        self.register_outputs({"cni": self.cni, "ibNetworks": self.ib_networks})
