"""Secondary networking on bare metal: an InfiniBand address pool per GPU pool, and in each
tenant namespace an InfiniBand network attachment in the tenant's partition, for NCCL's
bootstrap and RDMA traffic. The CNI itself is components/cni.py.

The attachment is a NetworkAttachmentDefinition of the ib-sriov CNI carrying the tenant's pkey:
ib-kubernetes (NicClusterPolicy ``ibKubernetes``) reads the pkey from exactly that CNI config
and adds each pod's virtual-function GUID to the tenant's partition through UFM. (The Network
Operator's IPoIBNetwork has no pkey field: its fields are networkNamespace, master and ipam,
and its IPoIB child links stay in the parent's partition, so it cannot isolate tenants.)

Default-deny network policies for tenant namespaces come with the tenant chart (see
components/tenants.py), next to the namespace they protect.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

import pulumi

from components._k8s import custom, meta
from components.network_operator import NAMESPACE as NETWORK_OPERATOR_NAMESPACE
from components.network_operator import SRIOV_RESOURCE_PREFIX, NetworkOperator, ib_vf_resource
from gigafactory.site.model import LABEL_POOL, Cluster, Tenant

# Addresses per node in the IPoIB pool: GPUs per tray plus headroom (a choice).
IB_BLOCK_PER_NODE = 8


def pool_ib_subnets(cluster: Cluster, ib_subnet: str) -> dict[str, str]:
    """Each GPU pool's own IPoIB subnet, carved from the cluster's ``ib_subnet`` in pool order:
    the smallest aligned block holding ``IB_BLOCK_PER_NODE`` addresses per node (plus network
    and broadcast). ValueError naming the pool when they do not all fit."""
    net = ipaddress.IPv4Network(ib_subnet)
    out: dict[str, str] = {}
    start = int(net.network_address)
    for pool in cluster.gpu_pools:
        need = pool.node_count * IB_BLOCK_PER_NODE + 2
        prefix = 32 - max(0, (need - 1).bit_length())
        size = 1 << (32 - prefix)
        start = -(-start // size) * size  # align up to the block size
        if prefix < net.prefixlen or start + size > int(net.broadcast_address) + 1:
            raise ValueError(
                f"cluster {cluster.name}: IPoIB subnet {ib_subnet} has no room for pool {pool.name} "
                f"({pool.node_count} nodes x {IB_BLOCK_PER_NODE} addresses needs a /{prefix}); "
                "give gigafactory:ibSubnet a larger range"
            )
        out[pool.name] = str(ipaddress.IPv4Network((start, prefix)))
        start += size
    return out


@dataclass(frozen=True)
class NetworkingArgs:
    """Inputs of cluster networking."""

    cluster: Cluster
    """The cluster from the site model."""
    tenants: list[Tenant]
    """Tenants of this cluster: each gets an InfiniBand attachment in its partition per GPU
    pool it uses (bare-metal tenants always have a pkey: the loader refuses one without)."""
    network_operator: NetworkOperator | None
    """The Network Operator this stack installs; None when the environment provides it
    (its CRDs included) or off bare metal."""
    ib_subnet: str
    """IPv4 CIDR for IPoIB addresses of this cluster, e.g. 100.64.0.0/16; each GPU pool gets
    its own part of it (``pool_ib_subnets``)."""
    tenant_releases: list[pulumi.Resource]
    """Tenant releases (they create the namespaces the attachments live in)."""


class Networking(pulumi.ComponentResource):
    """InfiniBand address pools per GPU pool and tenant attachments in their partitions (bare metal)."""

    ib_networks: list[str]

    def __init__(self, name: str, args: NetworkingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gigafactory:networking:Networking", name, None, opts)
        cluster = args.cluster
        self.ib_networks = []
        if cluster.platform == "baremetal":
            netop = args.network_operator
            operator: list[pulumi.Resource] = [netop.release, netop.policy] if netop is not None else []
            subnets = pool_ib_subnets(cluster, args.ib_subnet)
            for pool in cluster.gpu_pools:
                pool_name = f"{cluster.name}-{pool.name}-ib"
                ip_pool = custom(
                    f"{name}-{pool.name}-ippool",
                    self,
                    api_version="nv-ipam.nvidia.com/v1alpha1",
                    kind="IPPool",
                    metadata=meta(pool_name, NETWORK_OPERATOR_NAMESPACE),
                    spec={
                        "subnet": subnets[pool.name],
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
                    crd_release=operator,
                )
                for tenant in args.tenants:
                    if pool.name not in {q.pool for q in tenant.quotas} or tenant.pkey is None:
                        continue
                    net = f"{tenant.name}-{pool.name}-ib"
                    config = {
                        "cniVersion": "0.3.1",
                        "name": net,
                        "plugins": [
                            {
                                "type": "ib-sriov",
                                # The tenant's partition (docs/fabric.md): ib-kubernetes puts
                                # the pods' virtual functions in it.
                                "pkey": f"{tenant.pkey:#06x}",
                                "link_state": "enable",
                                "ibKubernetesEnabled": True,
                                "ipam": {"type": "nv-ipam", "poolName": pool_name},
                            },
                            # Each pod sees only its own RDMA device.
                            {"type": "rdma"},
                        ],
                    }
                    custom(
                        f"{name}-{tenant.name}-{pool.name}-ib",
                        self,
                        api_version="k8s.cni.cncf.io/v1",
                        kind="NetworkAttachmentDefinition",
                        metadata={
                            **meta(net, tenant.namespace),
                            "annotations": {
                                "k8s.v1.cni.cncf.io/resourceName": f"{SRIOV_RESOURCE_PREFIX}/{ib_vf_resource(pool.name)}"
                            },
                        },
                        spec={"config": json.dumps(config)},
                        crd_release=[*operator, ip_pool, *args.tenant_releases],
                    )
                    self.ib_networks.append(f"{tenant.namespace}/{net}")
        self.register_outputs({"ibNetworks": self.ib_networks})
