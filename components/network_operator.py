"""NVIDIA Network Operator for InfiniBand / RDMA on bare metal (not installed on laptops).

The chart installs the operator and its CRDs; the NicClusterPolicy (a custom resource
that depends on the release) deploys the RDMA shared device plugin, Multus, the IPoIB
CNI and NVIDIA IPAM on the GPU pools, and the DOCA-OFED driver container when the
host does not bring its own.
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
from gigafactory.site.model import LABEL_GPU, LABEL_ROLE, Cluster

NAMESPACE = "nvidia-network-operator"
# RDMA resource pods request (rdma/<name>): every InfiniBand port of a Mellanox (15b3) NIC.
RDMA_RESOURCE = "rdma_shared_device_ib"


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

    after: Sequence[pulumi.Resource] = ()
    """Resources the component's releases wait for: the CNI on bare metal. Default: none."""


class NetworkOperator(pulumi.ComponentResource):
    """Network Operator release plus its NicClusterPolicy."""

    release: k8s.helm.v3.Release
    """The release installing the Network Operator CRDs (NicClusterPolicy, IPoIBNetwork,
    NVIDIA IPAM pools)."""
    policy: k8s.apiextensions.CustomResource
    installed: dict[str, str]
    """Chart (or manifest) versions this component installs, by component name."""

    def __init__(
        self, name: str, args: NetworkOperatorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gigafactory:network_operator:NetworkOperator", name, None, opts)
        values: dict[str, Any] = {
            # One NFD per cluster: the GPU Operator's.
            "nfd": {"enabled": False},
            "sriovNetworkOperator": {"enabled": False},
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
        self.register_outputs(
            {"networkOperator": versions.NETWORK_OPERATOR.version, "rdmaResource": RDMA_RESOURCE}
        )
