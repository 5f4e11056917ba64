"""The NVIDIA GPU stack of one cluster: the GPU Operator on bare metal, the DRA driver for
multi-node NVLink (ComputeDomains) on NVL72 pools, and simulated GPUs on kind / minikube.

Values are derived from the model: which pools have GPUs (their taints become operand
tolerations), whether a pool's NVLink domain spans several nodes (NVL72 racks), and the
platform (bare metal runs real GPUs, laptops simulate them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components._k8s import custom, release
from gigafactory.site.model import LABEL_GPU, LABEL_POOL, LABEL_ROLE, Cluster

NAMESPACE = "gpu-operator"
DRA_NAMESPACE = "nvidia-dra-driver-gpu"
# Training uses whole GPUs: MIG off by default, one strategy for the whole cluster.
MIG_STRATEGY = "single"
MIG_DEFAULT_CONFIG = "all-disabled"
# The DCGM exporter Service both the real operator and the simulator create.
DCGM_SERVICE_LABELS = {"app": "nvidia-dcgm-exporter"}
DCGM_PORT_NAME = "gpu-metrics"
# Fields the exporter publishes: the default set plus the ones the GPU alerts read
# (XID, thermal throttling, ECC). Format: DCGM field, Prometheus type, help.
DCGM_METRICS = (
    "DCGM_FI_DEV_GPU_UTIL, gauge, GPU utilization (in %).\n"
    "DCGM_FI_DEV_FB_USED, gauge, Framebuffer memory used (in MiB).\n"
    "DCGM_FI_DEV_FB_FREE, gauge, Framebuffer memory free (in MiB).\n"
    "DCGM_FI_DEV_GPU_TEMP, gauge, GPU temperature (in C).\n"
    "DCGM_FI_DEV_POWER_USAGE, gauge, Power draw (in W).\n"
    "DCGM_FI_DEV_XID_ERRORS, gauge, Value of the last XID error encountered.\n"
    "DCGM_FI_DEV_THERMAL_VIOLATION, counter, Throttling duration due to thermal constraints (in us).\n"
    "DCGM_FI_DEV_POWER_VIOLATION, counter, Throttling duration due to power constraints (in us).\n"
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL, counter, Total number of single-bit volatile ECC errors.\n"
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL, counter, Total number of double-bit volatile ECC errors.\n"
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS, counter, Rows remapped for uncorrectable errors.\n"
    "DCGM_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL, counter, NVLink flow-control CRC errors.\n"
)


@dataclass(frozen=True)
class GpuOperatorArgs:
    """Inputs of the GPU stack."""

    cluster: Cluster
    """The cluster from the site model (platform, GPU pools, SKUs)."""
    host_drivers: bool
    """True when the NVIDIA driver and container toolkit are installed on the host by the
    Ansible playbooks (the operator then leaves them alone); False to let the operator
    install both. Ignored on kind / minikube, where nothing is installed."""
    monitoring: pulumi.Resource | None
    """Release installing the Prometheus Operator CRDs (for the DCGM ServiceMonitor); None
    when the environment provides observability: no ServiceMonitor."""

    after: Sequence[pulumi.Resource] = ()
    """Resources the component's releases wait for: the CNI on bare metal. Default: none."""


class GpuOperator(pulumi.ComponentResource):
    """GPU Operator (bare metal) or fake-gpu-operator (kind / minikube), plus the DRA
    driver for ComputeDomains on NVL72 pools and a ServiceMonitor for DCGM metrics."""

    release: k8s.helm.v3.Release
    """The release that installs GPU capacity (real or simulated)."""
    mode: Literal["operator", "simulated"]
    driver: Literal["host", "operator", "none"]
    compute_domains: bool
    installed: dict[str, str]
    """Chart (or manifest) versions this component installs, by component name."""

    def __init__(self, name: str, args: GpuOperatorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gigafactory:gpu_operator:GpuOperator", name, None, opts)
        cluster = args.cluster
        # The simulator's ComputeDomains need its DRA GPU plugin in place of the device
        # plugin whose nvidia.com/gpu the Kueue quotas count: laptops go without them.
        self.compute_domains = not cluster.simulated_gpus and any(
            p.multi_node_nvlink for p in cluster.gpu_pools
        )
        if cluster.simulated_gpus:
            self.mode, self.driver = "simulated", "none"
            self.installed = {"fake-gpu-operator": versions.FAKE_GPU_OPERATOR.version}
            self.release = release(
                f"{name}-fake-gpu-operator",
                self,
                pin=versions.FAKE_GPU_OPERATOR,
                namespace=NAMESPACE,
                release_name="gpu-operator",
                values=self._simulated_values(cluster),
                depends_on=args.after,
            )
        else:
            self.mode = "operator"
            self.driver = "host" if args.host_drivers else "operator"
            self.installed = {"gpu-operator": versions.GPU_OPERATOR.version}
            self.release = release(
                f"{name}-gpu-operator",
                self,
                pin=versions.GPU_OPERATOR,
                namespace=NAMESPACE,
                values=self._operator_values(cluster, args.host_drivers),
                depends_on=args.after,
            )
            if self.compute_domains:
                self.installed["dra-driver-nvidia-gpu"] = versions.DRA_DRIVER.version
                release(
                    f"{name}-dra-driver",
                    self,
                    pin=versions.DRA_DRIVER,
                    namespace=DRA_NAMESPACE,
                    values=self._dra_values(cluster, args.host_drivers),
                    # Needs the driver and GFD's nvidia.com/gpu.clique labels first.
                    depends_on=[*args.after, self.release],
                )
        if args.monitoring is None:
            self.register_outputs(
                {"mode": self.mode, "driver": self.driver, "computeDomains": self.compute_domains}
            )
            return
        custom(
            f"{name}-dcgm-servicemonitor",
            self,
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={"name": "nvidia-dcgm-exporter", "namespace": NAMESPACE},
            spec={
                "selector": {"matchLabels": DCGM_SERVICE_LABELS},
                "namespaceSelector": {"matchNames": [NAMESPACE]},
                "endpoints": [{"port": DCGM_PORT_NAME, "interval": "15s", "honorLabels": True}],
            },
            crd_release=[args.monitoring, self.release],
        )
        self.register_outputs(
            {"mode": self.mode, "driver": self.driver, "computeDomains": self.compute_domains}
        )

    @staticmethod
    def _operator_values(cluster: Cluster, host_drivers: bool) -> dict[str, Any]:
        tolerations = cluster.gpu_tolerations
        values: dict[str, Any] = {
            # Host-installed driver and toolkit (the Ansible path) or operator-managed.
            "driver": {
                "enabled": not host_drivers,
                # GPUDirect RDMA over the InfiniBand fabric; the host's DOCA-OFED when the
                # host owns the drivers.
                "rdma": {"enabled": True, "useHostMofed": host_drivers},
            },
            "toolkit": {"enabled": not host_drivers},
            "cdi": {"enabled": True},
            "nfd": {"enabled": True},
            # GFD publishes nvidia.com/gpu.clique, the NVLink domain of each tray.
            "gfd": {"enabled": True},
            "mig": {"strategy": MIG_STRATEGY},
            "migManager": {"config": {"default": MIG_DEFAULT_CONFIG}},
            "dcgmExporter": {
                "enabled": True,
                # The component creates the ServiceMonitor itself, after the CRD exists.
                "serviceMonitor": {"enabled": False},
                "config": {"name": "gigafactory-dcgm-metrics", "create": True, "data": DCGM_METRICS},
            },
            "daemonsets": {"tolerations": tolerations},
            "node-feature-discovery": {
                "worker": {
                    "tolerations": tolerations,
                    "nodeSelector": {LABEL_GPU: "true"},
                }
            },
        }
        if any(p.role == "system" for p in cluster.pools):
            values["operator"] = {"nodeSelector": {LABEL_ROLE: "system"}}
        return values

    @staticmethod
    def _dra_values(cluster: Cluster, host_drivers: bool) -> dict[str, Any]:
        return {
            # GPUs stay with the operator's device plugin; the DRA driver only adds
            # ComputeDomains (IMEX channels across the NVL72 rack).
            "resources": {"gpus": {"enabled": False}, "computeDomains": {"enabled": True}},
            "nvidiaDriverRoot": "/" if host_drivers else "/run/nvidia/driver",
            "kubeletPlugin": {
                "nodeSelector": {LABEL_GPU: "true"},
                "tolerations": cluster.gpu_tolerations,
            },
        }

    @staticmethod
    def _simulated_values(cluster: Cluster) -> dict[str, Any]:
        return {
            "topology": {
                # The simulator assigns nodes to pools by this label: the model's pool label.
                "nodePoolLabelKey": LABEL_POOL,
                "migStrategy": MIG_STRATEGY,
                "nodePools": {
                    p.name: {"gpuProduct": p.spec.gpu_product, "gpuCount": p.gpus_per_node}
                    for p in cluster.gpu_pools
                },
            },
        }
