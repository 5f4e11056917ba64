"""NVIDIA Network Operator for InfiniBand / RDMA on bare metal (not installed on laptops).

The chart installs the operator, its CRDs and the SR-IOV Network Operator; the
NicClusterPolicy (a custom resource that depends on the release) deploys the RDMA shared
device plugin (platform jobs such as the burn-in, in the default partition), ib-kubernetes
(tenant pods' virtual-function GUIDs into their tenant's partition, through UFM), Multus, the
CNI plugins and NVIDIA IPAM on the GPU pools, and the DOCA-OFED driver container when the
host does not bring its own. One SriovNetworkNodePolicy per GPU pool makes the virtual
functions of the pool's compute NICs (selected by PCI device ID, so no other NIC of the vendor
is touched) that tenant attachments (components/networking.py) hand to pods.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components._k8s import custom, meta, release
from gigafactory.baremetal.fabric import compute_nic_device_id
from gigafactory.site.model import LABEL_GPU, LABEL_POOL, LABEL_ROLE, Cluster

NAMESPACE = "nvidia-network-operator"
# RDMA resource pods request (rdma/<name>): every InfiniBand port of a Mellanox (15b3) NIC.
RDMA_RESOURCE = "rdma_shared_device_ib"
# Resource prefix of the SR-IOV device plugin: tenant pods request <prefix>/<pool>_ib_vf.
SRIOV_RESOURCE_PREFIX = "nvidia.com"
# Secret with UFM's address and credentials that ib-kubernetes reads; the site's operators
# create it in NAMESPACE before the first `up` (docs/fabric.md): credentials never pass
# through the stack.
UFM_SECRET = "ib-kubernetes-ufm-secret"


def ib_vf_resource(pool: str) -> str:
    """SR-IOV resource name of ``pool``'s InfiniBand virtual functions (without the prefix)."""
    return f"{pool}_ib_vf".replace("-", "_")


def _image(name: str, version: str = versions.NETWORK_OPERATOR_COMPONENT_TAG) -> dict[str, str]:
    return {"image": name, "repository": versions.NETWORK_OPERATOR_IMAGE_REPO, "version": version}


@dataclass(frozen=True)
class NetworkOperatorArgs:
    """Inputs of the Network Operator."""

    cluster: Cluster
    """The cluster from the site model (bare metal only)."""
    host_drivers: bool
    """True when DOCA-OFED is installed on the host by the Ansible playbooks; False to
    run the operator's driver container."""
    guid_pool: tuple[str, str]
    """First and last port GUID ib-kubernetes gives this cluster's pods
    (``gigafactory.baremetal.fabric.guid_pool``: one range per cluster of the site)."""

    after: Sequence[pulumi.Resource] = ()
    """Resources the component's releases wait for: the CNI on bare metal. Default: none."""


class NetworkOperator(pulumi.ComponentResource):
    """Network Operator release plus its NicClusterPolicy."""

    release: k8s.helm.v3.Release
    """The release installing the Network Operator and SR-IOV Network Operator CRDs
    (NicClusterPolicy, SriovNetworkNodePolicy, NVIDIA IPAM pools, Multus' attachments)."""
    policy: k8s.apiextensions.CustomResource
    vf_policies: list[k8s.apiextensions.CustomResource]
    """One SriovNetworkNodePolicy per GPU pool (its compute NICs' virtual functions)."""
    installed: dict[str, str]
    """Chart (or manifest) versions this component installs, by component name."""

    def __init__(
        self, name: str, args: NetworkOperatorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gigafactory:network_operator:NetworkOperator", name, None, opts)
        values: dict[str, Any] = {
            # One NFD per cluster: the GPU Operator's.
            "nfd": {"enabled": False},
            # Virtual functions for tenant pods, and the ib-sriov CNI that ib-kubernetes needs.
            "sriovNetworkOperator": {"enabled": True, "resourcePrefix": SRIOV_RESOURCE_PREFIX},
            "operator": {"nodeSelector": {LABEL_ROLE: "system"}},
        }
        self.installed = {"network-operator": versions.NETWORK_OPERATOR.version}
        self.release = release(
            f"{name}-network-operator",
            self,
            pin=versions.NETWORK_OPERATOR,
            namespace=NAMESPACE,
            values=values,
            depends_on=args.after,
        )
        rdma_config = {
            "configList": [
                {
                    "resourceName": RDMA_RESOURCE,
                    "rdmaHcaMax": 63,
                    "selectors": {"vendors": ["15b3"], "linkTypes": ["infiniband"]},
                }
            ]
        }
        spec: dict[str, Any] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": LABEL_GPU, "operator": "In", "values": ["true"]}]}
                    ]
                }
            },
            "tolerations": args.cluster.gpu_tolerations,
            "rdmaSharedDevicePlugin": {
                **_image("k8s-rdma-shared-dev-plugin"),
                "config": json.dumps(rdma_config),
            },
            "ibKubernetes": {
                **_image("ib-kubernetes"),
                "periodicUpdateSeconds": 5,
                "pKeyGUIDPoolRangeStart": args.guid_pool[0],
                "pKeyGUIDPoolRangeEnd": args.guid_pool[1],
                "ufmSecret": UFM_SECRET,
            },
            "nvIpam": {**_image("nvidia-k8s-ipam"), "enableWebhook": False},
            "secondaryNetwork": {
                "cniPlugins": _image("plugins"),
                "ipoib": _image("ipoib-cni"),
                "multus": _image("multus-cni"),
            },
        }
        if not args.host_drivers:
            spec["ofedDriver"] = {
                **_image("doca-driver", versions.DOCA_DRIVER_VERSION),
                # Drain one node at a time when the driver container is upgraded.
                "upgradePolicy": {"autoUpgrade": True, "maxParallelUpgrades": 1, "drain": {"enable": True}},
            }
        self.policy = custom(
            f"{name}-nic-cluster-policy",
            self,
            api_version="mellanox.com/v1alpha1",
            kind="NicClusterPolicy",
            # The operator acts on the one policy with this name.
            metadata=meta("nic-cluster-policy"),
            spec=spec,
            crd_release=self.release,
        )
        self.vf_policies = [
            custom(
                f"{name}-{pool.name}-ib-vfs",
                self,
                api_version="sriovnetwork.openshift.io/v1",
                kind="SriovNetworkNodePolicy",
                metadata=meta(f"{pool.name}-ib-vfs", NAMESPACE),
                spec={
                    "resourceName": ib_vf_resource(pool.name),
                    "nodeSelector": {LABEL_POOL: pool.name},
                    "nicSelector": {"vendor": "15b3", "deviceID": compute_nic_device_id(pool.spec)},
                    "linkType": "IB",
                    "isRdma": True,
                    "deviceType": "netdevice",
                    # One virtual function per GPU on each compute NIC: a pod per GPU can take
                    # every rail.
                    "numVfs": pool.spec.gpus_per_node,
                    "priority": 90,
                },
                crd_release=self.release,
            )
            for pool in args.cluster.gpu_pools
        ]
        self.register_outputs(
            {"networkOperator": versions.NETWORK_OPERATOR.version, "rdmaResource": RDMA_RESOURCE}
        )
