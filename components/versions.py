"""Every chart and image the Pulumi program installs, pinned in one place.

Each pin names its source; the starting matrix is VERSIONS.md of the team's shared reference (outside this repository). Bump a pin
here and nowhere else: components read these constants, tests check every Helm release
carries one, and stack outputs report them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class ChartPin:
    """One pinned chart: name, repository (an https repo, an ``oci://`` prefix, or None for a
    chart of this project) and exact version. ``components._k8s.release`` takes one."""

    chart: str
    repo: str | None
    version: str


# --- Scheduling -------------------------------------------------------------------------
# Kueue 0.19.2: Topology API kueue.x-k8s.io/v1beta2, tested on Kubernetes 1.34-1.36
# (kueue installation docs; VERSIONS.md).
KUEUE: Final = ChartPin(
    chart="kueue",
    repo="oci://registry.k8s.io/kueue/charts",
    version="0.19.2",
)
KUEUE_API: Final = "kueue.x-k8s.io/v1beta2"

# --- NVIDIA GPU stack -------------------------------------------------------------------
# GPU Operator 26.7.0 lists GB300 NVL72; bundles Container Toolkit 1.20.0, device plugin
# and GFD 0.20.0, DCGM 4.6.0-1, MIG manager 0.15.0, NFD 0.19.0 (NVIDIA GPU Operator
# release notes; VERSIONS.md).
# NGC publishes the chart versions of the GPU Operator with a leading "v".
GPU_OPERATOR: Final = ChartPin(
    chart="gpu-operator",
    repo="https://helm.ngc.nvidia.com/nvidia",
    version="v26.7.0",
)
# DRA driver for ComputeDomains (multi-node NVLink / IMEX): 0.5.0 needs Kubernetes
# >= 1.34.2 and driver >= 570.158.01 (VERSIONS.md; 0.4.1 is the last chart confirmed
# there, 0.5.0 the target).
DRA_DRIVER: Final = ChartPin(
    chart="dra-driver-nvidia-gpu",
    repo="oci://registry.k8s.io/dra-driver-nvidia/charts",
    version="0.5.0",
)
# run:ai fake-gpu-operator: simulated GPUs on kind / minikube (VERSIONS.md; chart
# values read from run-ai/fake-gpu-operator v0.2.0 deploy/fake-gpu-operator/values.yaml).
FAKE_GPU_OPERATOR: Final = ChartPin(
    chart="fake-gpu-operator",
    repo="oci://ghcr.io/run-ai/fake-gpu-operator",
    version="0.2.0",
)

# --- NVIDIA networking ------------------------------------------------------------------
# Network Operator 26.4.1: validated up to Kubernetes 1.35 (26.7.0 was a release
# candidate); component images share the operator's release tag (VERSIONS.md).
NETWORK_OPERATOR: Final = ChartPin(
    chart="network-operator",
    repo="https://helm.ngc.nvidia.com/nvidia",
    version="26.4.1",
)
NETWORK_OPERATOR_IMAGE_REPO: Final = "nvcr.io/nvidia/mellanox"
NETWORK_OPERATOR_COMPONENT_TAG: Final = "network-operator-v26.4.1"
# DOCA-OFED driver container for Network Operator 26.4.x (VERSIONS.md).
DOCA_DRIVER_VERSION: Final = "doca3.4.1-26.04-1.1.0.0-1"

# --- Cluster networking -----------------------------------------------------------------
# Cilium 1.20.0, Helm repo https://helm.cilium.io (VERSIONS.md).
CILIUM: Final = ChartPin(
    chart="cilium",
    repo="https://helm.cilium.io",
    version="1.20.0",
)

# --- Storage ----------------------------------------------------------------------------
# NFS CSI driver 4.13.4, chart repo of kubernetes-csi/csi-driver-nfs (VERSIONS.md).
NFS_CSI: Final = ChartPin(
    chart="csi-driver-nfs",
    repo="https://raw.githubusercontent.com/kubernetes-csi/csi-driver-nfs/master/charts",
    version="4.13.4",
)
# local-path-provisioner v0.0.37 (rancher/local-path-provisioner; no published Helm
# repository, so components/storage.py declares its few objects). kind ships its own build.
LOCAL_PATH_VERSION: Final = "v0.0.37"
LOCAL_PATH_IMAGE: Final = f"docker.io/rancher/local-path-provisioner:{LOCAL_PATH_VERSION}"
# Helper pod that creates and removes volume directories on the node (busybox 1.37.0).
LOCAL_PATH_HELPER_IMAGE: Final = "docker.io/library/busybox:1.37.0"

# --- Observability ----------------------------------------------------------------------
# kube-prometheus-stack 88.5.3 (VERSIONS.md); DCGM dashboard grafana.com id 12239.
PROMETHEUS_STACK: Final = ChartPin(
    chart="kube-prometheus-stack",
    repo="oci://ghcr.io/prometheus-community/charts",
    version="88.5.3",
)
DCGM_DASHBOARD_GNET_ID: Final = 12239

# --- The project's own charts -----------------------------------------------------------
# charts/tenant: kept equal to charts/tenant/Chart.yaml `version` by
# tests/pulumi/test_versions.py (components never read YAML).
TENANT_CHART_PATH: Final = "./charts/tenant"
TENANT_CHART_VERSION: Final = "0.2.0"
