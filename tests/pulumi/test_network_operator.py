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
    assert {"rdmaSharedDevicePlugin", "nvIpam", "secondaryNetwork", "ibKubernetes"} <= set(spec)


@pytest.mark.parametrize(("stack", "index"), [("narvik-c1", 1), ("narvik-c3", 3)])
def test_each_cluster_gets_its_own_guid_pool_and_ufm_secret(stack: str, index: int) -> None:
    """c1 is the first cluster of sites/narvik.yaml, c3 the third: GUIDs 02:01:... and 02:03:..."""
    (policy,) = kind_of(rendered(stack), "NicClusterPolicy")
    ib = policy["inputs"]["spec"]["ibKubernetes"]
    assert ib["pKeyGUIDPoolRangeStart"] == f"02:0{index}:00:00:00:00:00:00"
    assert ib["pKeyGUIDPoolRangeEnd"] == f"02:0{index}:ff:ff:ff:ff:ff:ff"
    assert ib["ufmSecret"] == "ib-kubernetes-ufm-secret"


def test_sriov_operator_makes_virtual_functions_on_the_compute_nics_only() -> None:
    result = rendered("narvik-c1")
    values = releases(result)["network-operator"]["inputs"]["values"]
    assert values["sriovNetworkOperator"]["enabled"] is True
    (vfs,) = kind_of(result, "SriovNetworkNodePolicy")
    spec = vfs["inputs"]["spec"]
    # c1's train pool is GB300 NVL72: ConnectX-8 (PCI 15b3:1023), 4 GPUs per tray -> 4 VFs per NIC.
    assert spec["nicSelector"] == {"vendor": "15b3", "deviceID": "1023"}
    assert spec["numVfs"] == 4
    assert (spec["linkType"], spec["isRdma"], spec["resourceName"]) == ("IB", True, "train_ib_vf")
    assert spec["nodeSelector"] == {"gigafactory.io/pool": "train"}
    assert releases(result)["network-operator"]["urn"] in vfs["depends_on"]


@pytest.mark.parametrize("stack", ["kind", "minikube"])
def test_laptops_have_no_network_operator(stack: str) -> None:
    result = rendered(stack)
    assert "network-operator" not in releases(result)
    assert kind_of(result, "NicClusterPolicy") == []
