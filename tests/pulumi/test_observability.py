"""Observability: Prometheus scrapes every ServiceMonitor (DCGM's included) and the GPU
alert rules cover XID errors, thermal throttling and ECC."""

from __future__ import annotations

import pytest

from tests.pulumi.conftest import INSTALLING_STACKS, kind_of, releases, rendered


@pytest.mark.parametrize("stack", ["kind", "narvik-c1"])
def test_prometheus_selects_every_service_monitor_and_rule(stack: str) -> None:
    spec = releases(rendered(stack))["kube-prometheus-stack"]["inputs"]["values"]["prometheus"][
        "prometheusSpec"
    ]
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert spec["ruleSelectorNilUsesHelmValues"] is False


@pytest.mark.parametrize("stack", INSTALLING_STACKS)
def test_gpu_alerts_cover_xid_thermal_and_ecc(stack: str) -> None:
    (rule,) = kind_of(rendered(stack), "PrometheusRule")
    exprs = " ".join(r["expr"] for g in rule["inputs"]["spec"]["groups"] for r in g["rules"])
    for metric in (
        "DCGM_FI_DEV_XID_ERRORS",
        "DCGM_FI_DEV_THERMAL_VIOLATION",
        "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
    ):
        assert metric in exprs, f"{stack}: no alert reads {metric}"


def test_alert_metrics_are_exported_by_dcgm() -> None:
    """Every DCGM field an alert reads is in the exporter's metric list on bare metal."""
    result = rendered("narvik-c1")
    csv = releases(result)["gpu-operator"]["inputs"]["values"]["dcgmExporter"]["config"]["data"]
    exported = {line.split(",")[0] for line in csv.splitlines() if line}
    (rule,) = kind_of(result, "PrometheusRule")
    for r in rule["inputs"]["spec"]["groups"][0]["rules"]:
        used = {w for w in r["expr"].replace("(", " ").replace("[", " ").split() if w.startswith("DCGM_FI_")}
        assert used <= exported, f"{r['alert']} reads {used - exported}, not exported"
