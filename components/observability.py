"""Prometheus stack (pinned) scraping DCGM metrics, and the GPU alert rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components._k8s import custom, meta, release
from gigafactory.site.model import Cluster

NAMESPACE = "monitoring"
# XIDs that mean the GPU or its NVLink needs a reset or replacement (NVIDIA XID catalog:
# 48 double-bit ECC, 74 NVLink error, 79 fallen off the bus, 94/95 contained/uncontained
# ECC errors). Other XIDs are usually the application's.
FATAL_XIDS = (48, 74, 79, 94, 95)
# Sustained GPU temperature that warrants a look at the liquid loop (C), a choice.
GPU_TEMP_WARN_C = 85

GPU_ALERTS: list[dict[str, Any]] = [
    {
        "alert": "GpuXidError",
        "expr": "changes(DCGM_FI_DEV_XID_ERRORS[10m]) > 0 and DCGM_FI_DEV_XID_ERRORS != 0",
        "labels": {"severity": "warning"},
        "annotations": {
            "summary": "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID {{ $value }}."
        },
    },
    {
        "alert": "GpuFatalXid",
        "expr": "DCGM_FI_DEV_XID_ERRORS == "
        + " or DCGM_FI_DEV_XID_ERRORS == ".join(str(x) for x in FATAL_XIDS),
        "labels": {"severity": "critical"},
        "annotations": {
            "summary": "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} hit fatal XID {{ $value }}: drain the node."
        },
    },
    {
        "alert": "GpuThermalThrottling",
        "expr": "rate(DCGM_FI_DEV_THERMAL_VIOLATION[5m]) > 0",
        "for": "10m",
        "labels": {"severity": "warning"},
        "annotations": {"summary": "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is thermally throttled."},
    },
    {
        "alert": "GpuHighTemperature",
        "expr": f"DCGM_FI_DEV_GPU_TEMP > {GPU_TEMP_WARN_C}",
        "for": "5m",
        "labels": {"severity": "warning"},
        "annotations": {"summary": "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} runs at {{ $value }} C."},
    },
    {
        "alert": "GpuEccDoubleBitError",
        "expr": "increase(DCGM_FI_DEV_ECC_DBE_VOL_TOTAL[10m]) > 0",
        "labels": {"severity": "critical"},
        "annotations": {
            "summary": "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} had uncorrectable ECC errors."
        },
    },
]


@dataclass(frozen=True)
class ObservabilityArgs:
    """Inputs of the observability layer."""

    cluster: Cluster
    """The cluster from the site model."""

    after: Sequence[pulumi.Resource] = ()
    """Resources the component's releases wait for: the CNI on bare metal. Default: none."""


class Observability(pulumi.ComponentResource):
    """kube-prometheus-stack with selectors open to every ServiceMonitor and rule (so
    DCGM's is scraped), a DCGM Grafana dashboard, and GPU alert rules."""

    release: k8s.helm.v3.Release
    """The release installing the Prometheus Operator CRDs."""
    alerts: list[str]
    installed: dict[str, str]
    """Chart (or manifest) versions this component installs, by component name."""

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("gigafactory:observability:Observability", name, None, opts)
        values: dict[str, Any] = {
            "prometheus": {
                "prometheusSpec": {
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "podMonitorSelectorNilUsesHelmValues": False,
                    "ruleSelectorNilUsesHelmValues": False,
                    "externalLabels": {"cluster": args.cluster.name},
                }
            },
            # Node metrics from every node, GPU and storage pools included.
            "prometheus-node-exporter": {"tolerations": [{"operator": "Exists"}]},
            "grafana": {
                "dashboardProviders": {
                    "dashboardproviders.yaml": {
                        "apiVersion": 1,
                        "providers": [
                            {
                                "name": "gpu",
                                "folder": "GPU",
                                "type": "file",
                                "options": {"path": "/var/lib/grafana/dashboards/gpu"},
                            }
                        ],
                    }
                },
                "dashboards": {
                    "gpu": {"dcgm": {"gnetId": versions.DCGM_DASHBOARD_GNET_ID, "datasource": "Prometheus"}}
                },
            },
        }
        self.release = release(
            f"{name}-prometheus",
            self,
            pin=versions.PROMETHEUS_STACK,
            namespace=NAMESPACE,
            values=values,
            depends_on=args.after,
        )
        custom(
            f"{name}-gpu-alerts",
            self,
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=meta("gpu-alerts", NAMESPACE),
            spec={"groups": [{"name": "gpu", "rules": GPU_ALERTS}]},
            crd_release=self.release,
        )
        self.alerts = [rule["alert"] for rule in GPU_ALERTS]
        self.installed = {"kube-prometheus-stack": versions.PROMETHEUS_STACK.version}
        self.register_outputs({"prometheusStack": versions.PROMETHEUS_STACK.version, "alerts": self.alerts})
