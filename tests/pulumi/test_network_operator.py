"""Network Operator: on bare metal only, with one NFD per cluster and a NicClusterPolicy
that waits for the operator's CRDs."""

from __future__ import annotations

import pytest

from tests.pulumi.conftest import kind_of, releases, rendered


def test_bare_metal_installs_network_operator_without_its_own_nfd() -> None:
    values = releases(rendered("narvik-c3"))["network-operator"]["inputs"]["values"]
    assert values["nfd"] == {"enabled": False}, "the GPU Operator's NFD is the only one"


def test_nic_cluster_policy_depends_on_the_operator_release() -> None:
    result = rendered("narvik-c3")
    (policy,) = kind_of(result, "NicClusterPolicy")
    assert releases(result)["network-operator"]["urn"] in policy["depends_on"]
    spec = policy["inputs"]["spec"]
    assert "ofedDriver" not in spec, "hostDrivers: true means DOCA-OFED comes from the host"
    assert {"rdmaSharedDevicePlugin", "nvIpam", "secondaryNetwork"} <= set(spec)


@pytest.mark.parametrize("stack", ["kind", "minikube"])
def test_laptops_have_no_network_operator(stack: str) -> None:
    result = rendered(stack)
    assert "network-operator" not in releases(result)
    assert kind_of(result, "NicClusterPolicy") == []
