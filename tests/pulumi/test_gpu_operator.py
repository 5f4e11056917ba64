"""GPU stack: real operator with model-derived values on bare metal, simulated GPUs on
laptops, ComputeDomains (DRA driver) only where the NVLink domain spans nodes."""

from __future__ import annotations

from typing import Any

import pulumi

from components import versions
from components.gpu_operator import GpuOperator, GpuOperatorArgs
from gigafactory.site import parse_site
from gigafactory.stack.render import run_program
from tests.conftest import site_data
from tests.pulumi.conftest import kind_of, releases, rendered

GPU_TOLERATION = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule", "operator": "Equal"}
# New GPU nodes carry the untested taint until burn-in admits them; the burn-in needs the
# device plugin and the DRA driver there, so node daemons tolerate it too.
UNTESTED_TOLERATION = {
    "key": "gigafactory.io/untested",
    "value": "true",
    "effect": "NoSchedule",
    "operator": "Equal",
}


def _gpu_stack(data: dict[str, Any], cluster: str, host_drivers: bool) -> dict[str, dict[str, Any]]:
    site = parse_site(data)

    def program() -> None:
        monitoring = pulumi.CustomResource("test:index:Prometheus", "prometheus")
        GpuOperator("gpu", GpuOperatorArgs(site.cluster(cluster), host_drivers, monitoring))

    return releases(run_program(program, "test").resources)


def test_bare_metal_runs_the_operator_on_host_drivers() -> None:
    values = releases(rendered("narvik-c1"))["gpu-operator"]["inputs"]["values"]
    assert values["driver"]["enabled"] is False, "Ansible installs the driver (hostDrivers: true)"
    assert values["toolkit"]["enabled"] is False
    assert values["driver"]["rdma"] == {"enabled": True, "useHostMofed": True}
    assert values["cdi"]["enabled"] is True
    assert values["mig"]["strategy"] == "single"
    assert values["dcgmExporter"]["enabled"] is True
    assert values["gfd"]["enabled"] is True, "GFD publishes nvidia.com/gpu.clique for NVL72"
    assert values["daemonsets"]["tolerations"] == [GPU_TOLERATION, UNTESTED_TOLERATION]
    assert values["node-feature-discovery"]["worker"]["nodeSelector"] == {"gigafactory.io/gpu": "true"}


def test_operator_installs_driver_and_toolkit_when_hosts_do_not() -> None:
    values = _gpu_stack(site_data(), "c1", host_drivers=False)["gpu-operator"]["inputs"]["values"]
    assert values["driver"]["enabled"] is True
    assert values["toolkit"]["enabled"] is True
    assert values["driver"]["rdma"]["useHostMofed"] is False


def test_laptops_simulate_gpus_without_driver_or_toolkit() -> None:
    for stack in ("kind", "minikube"):
        rels = releases(rendered(stack))
        release = rels["gpu-operator"]["inputs"]
        assert release["chart"] == f"{versions.FAKE_GPU_OPERATOR.repo}/{versions.FAKE_GPU_OPERATOR.chart}", (
            stack
        )
        assert "driver" not in release["values"] and "toolkit" not in release["values"], stack
        topology = release["values"]["topology"]
        assert topology["nodePoolLabelKey"] == "gigafactory.io/pool"
        # The laptop's GB300 pool: 4 GPUs per compute tray.
        assert topology["nodePools"] == {"gpu": {"gpuProduct": "NVIDIA-GB300", "gpuCount": 4}}
        assert "dra-driver-nvidia-gpu" not in rels, f"{stack}: no real DRA driver on a laptop"
        assert rendered(stack).outputs["computeDomains"] is False, f"{stack}: device plugin, not DRA"


def test_gpu_operator_values_differ_between_kind_and_bare_metal() -> None:
    kind = releases(rendered("kind"))["gpu-operator"]["inputs"]
    metal = releases(rendered("narvik-c1"))["gpu-operator"]["inputs"]
    assert kind["chart"] != metal["chart"]
    assert metal["chart"] == versions.GPU_OPERATOR.chart
    assert metal["repositoryOpts"] == {"repo": versions.GPU_OPERATOR.repo}


def test_nvl72_pools_get_compute_domains() -> None:
    values = releases(rendered("narvik-c1"))["dra-driver-nvidia-gpu"]["inputs"]["values"]
    assert values["resources"] == {"gpus": {"enabled": False}, "computeDomains": {"enabled": True}}
    assert values["nvidiaDriverRoot"] == "/", "host-installed driver lives at /"
    assert values["kubeletPlugin"]["tolerations"] == [GPU_TOLERATION, UNTESTED_TOLERATION]


def test_single_node_nvlink_pools_get_no_dra_driver() -> None:
    """A DGX B200 pool: its NVLink domain (8 GPUs) is one node, so no ComputeDomains."""
    data = site_data()
    data["clusters"][0]["pools"][0]["sku"] = "dgx-b200"
    rels = _gpu_stack(data, "c1", host_drivers=True)
    assert "gpu-operator" in rels
    assert "dra-driver-nvidia-gpu" not in rels


def test_dcgm_service_monitor_waits_for_prometheus_and_exporter() -> None:
    result = rendered("narvik-c1")
    (monitor,) = kind_of(result, "ServiceMonitor")
    rels = releases(result)
    needed = {rels["kube-prometheus-stack"]["urn"], rels["gpu-operator"]["urn"]}
    assert needed <= set(monitor["depends_on"]), "ServiceMonitor must wait for its CRD and the exporter"
    assert monitor["inputs"]["spec"]["selector"] == {"matchLabels": {"app": "nvidia-dcgm-exporter"}}
