"""Networking: CNI per platform; InfiniBand attachments in their partitions for tenants on bare metal."""

from __future__ import annotations

import dataclasses
import json

import pytest

from components.networking import pool_ib_subnets
from gigafactory.site import load_site
from gigafactory.site.model import Cluster
from tests.conftest import NARVIK
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


def test_tenant_gets_an_infiniband_attachment_in_its_partition() -> None:
    result = rendered("narvik-c1")
    assert kind_of(result, "IPoIBNetwork") == [], "IPoIBNetwork has no pkey: it cannot isolate tenants"
    (nad,) = kind_of(result, "NetworkAttachmentDefinition")
    metadata = nad["inputs"]["metadata"]
    assert (metadata["namespace"], metadata["name"]) == ("tenant-msft-c1", "msft-c1-train-ib")
    # The pool's virtual functions: the SriovNetworkNodePolicy of pool train makes them.
    assert metadata["annotations"]["k8s.v1.cni.cncf.io/resourceName"] == "nvidia.com/train_ib_vf"
    config = json.loads(nad["inputs"]["spec"]["config"])
    ib, rdma = config["plugins"]
    # ib-kubernetes reads the pkey from an ib-sriov CNI config only.
    assert ib["type"] == "ib-sriov" and ib["ibKubernetesEnabled"] is True
    assert ib["pkey"] == "0x0101", "the tenant's partition (sites/narvik.yaml msft-c1: pkey 0x0101)"
    assert ib["ipam"] == {"type": "nv-ipam", "poolName": "c1-train-ib"}
    assert rdma == {"type": "rdma"}
    (pool,) = kind_of(result, "IPPool")
    # 4,176 trays x 8 addresses + 2 = 33,410 > 32,768: a /16, all of stacks/Pulumi.narvik-c1.yaml's
    assert pool["inputs"]["spec"]["subnet"] == "100.64.0.0/16"
    assert releases(result)["tenant-msft-c1"]["urn"] in nad["depends_on"], (
        "namespace comes from the tenant chart"
    )
    assert result.outputs["ibNetworks"] == ["tenant-msft-c1/msft-c1-train-ib"]


def test_clusters_without_tenants_get_no_attachments() -> None:
    assert kind_of(rendered("narvik-c4"), "NetworkAttachmentDefinition") == []
    assert len(kind_of(rendered("narvik-c4"), "IPPool")) == 1


def test_bare_metal_releases_wait_for_the_cni() -> None:
    """No pod starts on a fresh bare-metal cluster before Cilium: every other release waits."""
    rels = releases(rendered("narvik-c1"))
    cilium = rels.pop("cilium")["urn"]
    for name, release in rels.items():
        assert cilium in release["depends_on"], f"release {name} does not wait for the CNI"


def test_c6_pool_gets_the_smallest_block_that_holds_it() -> None:
    """4,032 trays x 8 + 2 = 32,258 addresses <= 32,768: a /17 of 100.69.0.0/16."""
    (pool,) = kind_of(rendered("narvik-c6"), "IPPool")
    assert pool["inputs"]["spec"]["subnet"] == "100.69.0.0/17"


def _two_pools() -> Cluster:
    cluster = load_site(NARVIK).cluster("c1")
    train = cluster.pool("train")
    return dataclasses.replace(
        cluster, pools=(train, dataclasses.replace(train, name="infer", node_count=100))
    )


def test_each_gpu_pool_gets_its_own_ipoib_subnet() -> None:
    # train: 33,410 addresses -> /16; infer: 100 x 8 + 2 = 802 -> /22 (1,024), after the /16
    assert pool_ib_subnets(_two_pools(), "100.64.0.0/15") == {
        "train": "100.64.0.0/16",
        "infer": "100.65.0.0/22",
    }


def test_pools_that_do_not_fit_the_cluster_subnet_are_refused() -> None:
    with pytest.raises(ValueError, match="no room for pool infer"):
        pool_ib_subnets(_two_pools(), "100.64.0.0/16")
