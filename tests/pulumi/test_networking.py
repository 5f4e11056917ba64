"""Networking: CNI per platform; IPoIB attachments for tenants on bare metal."""

from __future__ import annotations

import json

import pytest

from tests.pulumi.conftest import kind_of, releases, rendered


@pytest.mark.parametrize(
    ("stack", "cni"), [("kind", "kindnet"), ("minikube", "cilium"), ("narvik-c1", "cilium")]
)
def test_cni_per_platform(stack: str, cni: str) -> None:
    result = rendered(stack)
    assert result.outputs["cni"] == cni
    # Only bare metal gets Cilium from the program; minikube is started with it.
    assert ("cilium" in releases(result)) == (stack == "narvik-c1")


def test_cilium_leaves_room_for_multus() -> None:
    values = releases(rendered("narvik-c1"))["cilium"]["inputs"]["values"]
    assert values["cni"]["exclusive"] is False


def test_tenant_gets_ipoib_network_from_its_pool() -> None:
    result = rendered("narvik-c1")
    (net,) = kind_of(result, "IPoIBNetwork")
    spec = net["inputs"]["spec"]
    assert spec["networkNamespace"] == "tenant-msft-c1"
    assert json.loads(spec["ipam"]) == {"type": "nv-ipam", "poolName": "c1-train-ib"}
    (pool,) = kind_of(result, "IPPool")
    assert pool["inputs"]["spec"]["subnet"] == "100.64.0.0/16"  # stacks/Pulumi.narvik-c1.yaml
    assert releases(result)["tenant-msft-c1"]["urn"] in net["depends_on"], (
        "namespace comes from the tenant chart"
    )


def test_clusters_without_tenants_get_no_attachments() -> None:
    assert kind_of(rendered("narvik-c4"), "IPoIBNetwork") == []
    assert len(kind_of(rendered("narvik-c4"), "IPPool")) == 1


def test_bare_metal_releases_wait_for_the_cni() -> None:
    """No pod starts on a fresh bare-metal cluster before Cilium: every other release waits."""
    rels = releases(rendered("narvik-c1"))
    cilium = rels.pop("cilium")["urn"]
    for name, release in rels.items():
        assert cilium in release["depends_on"], f"release {name} does not wait for the CNI"
