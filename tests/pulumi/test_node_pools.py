"""Node pools: Kueue flavors carry the model's labels and taints; GPU queues hold exactly
the pool's GPUs; GPU pools get the hall / SU / rack / host topology."""

from __future__ import annotations

import pulumi
import pytest

from components.node_pools import NodePool, NodePoolArgs
from gigafactory.site import load_site
from gigafactory.stack.render import run_program
from tests.conftest import KIND, NARVIK
from tests.pulumi.conftest import kind_of, named, rendered

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def test_gpu_pool_flavor_carries_model_taints_and_labels() -> None:
    flavor = named(kind_of(rendered("narvik-c1"), "ResourceFlavor"), "c1-train")["inputs"]["spec"]
    assert flavor["nodeTaints"] == [GPU_TAINT], "c1-train flavor must carry the GPU taint"
    assert flavor["nodeLabels"] == {
        "gigafactory.io/site": "narvik",
        "gigafactory.io/cluster": "c1",
        "gigafactory.io/pool": "train",
        "gigafactory.io/role": "training",
        "gigafactory.io/sku": "gb300-nvl72",
        "gigafactory.io/gpu": "true",
    }
    # Admitted pods get the toleration from the flavor, not from the tenant.
    assert flavor["tolerations"] == [{**GPU_TAINT, "operator": "Equal"}]


@pytest.mark.parametrize("stack", ["kind", "narvik-c1", "narvik-c6"])
def test_every_pool_flavor_matches_the_model(stack: str) -> None:
    result = rendered(stack)
    site = load_site(KIND if stack in ("kind", "minikube") else NARVIK)
    cluster = site.cluster(result.cluster)
    flavors = kind_of(result, "ResourceFlavor")
    assert len(flavors) == len(cluster.pools), f"{stack}: one flavor per pool"
    for pool in cluster.pools:
        spec = named(flavors, f"{cluster.name}-{pool.name}")["inputs"]["spec"]
        assert spec["nodeLabels"] == pool.labels, f"{stack}/{pool.name}: flavor labels differ from the model"
        assert spec["nodeTaints"] == [t.as_dict() for t in pool.taints], f"{stack}/{pool.name}: taints differ"


def test_storage_pool_flavor_is_tainted_for_storage() -> None:
    spec = named(kind_of(rendered("narvik-c1"), "ResourceFlavor"), "c1-storage")["inputs"]["spec"]
    assert spec["nodeTaints"] == [{"key": "gigafactory.io/role", "value": "storage", "effect": "NoSchedule"}]


@pytest.mark.parametrize(
    ("stack", "queue", "gpus"),
    [
        ("narvik-c1", "c1-train", 0),  # 16,704 GPUs, all contracted to msft-c1
        ("narvik-c5", "c5-train", 232 * 18 * 4),  # no tenant: 232 racks x 18 trays x 4 = 16,704
        ("narvik-c6", "c6-train", 224 * 18 * 4 - 4608),  # 16,128 less research's 4,608 = 11,520
        ("kind", "dev-gpu", 0),  # 2 trays x 4 GPUs = 8, all contracted to demo
    ],
)
def test_gpu_queue_quota_is_the_pools_unassigned_gpus(stack: str, queue: str, gpus: int) -> None:
    spec = named(kind_of(rendered(stack), "ClusterQueue"), queue)["inputs"]["spec"]
    (group,) = spec["resourceGroups"]
    assert group["coveredResources"] == ["nvidia.com/gpu"]
    (flavor,) = group["flavors"]
    assert flavor["name"] == queue
    assert flavor["resources"] == [{"name": "nvidia.com/gpu", "nominalQuota": str(gpus)}], f"{queue}: quota"


def test_cpu_pools_get_no_cluster_queue() -> None:
    queues = {r["inputs"]["metadata"]["name"] for r in kind_of(rendered("narvik-c1"), "ClusterQueue")}
    assert "c1-system" not in queues and "c1-storage" not in queues
    assert "c1-train" in queues


def test_gpu_pool_topology_is_hall_su_rack_host() -> None:
    result = rendered("narvik-c1")
    topology = named(kind_of(result, "Topology"), "c1-train")["inputs"]
    assert topology["apiVersion"] == "kueue.x-k8s.io/v1beta2"
    assert [lvl["nodeLabel"] for lvl in topology["spec"]["levels"]] == [
        "gigafactory.io/hall",
        "gigafactory.io/su",
        "gigafactory.io/rack",
        "kubernetes.io/hostname",
    ]
    flavor = named(kind_of(result, "ResourceFlavor"), "c1-train")["inputs"]["spec"]
    assert flavor["topologyName"] == "c1-train"


def test_node_pool_registers_its_gpus_as_output() -> None:
    """The component alone, under mocks: its outputs report the pool's GPUs and queue."""
    pool = load_site(NARVIK).cluster("c6").pool("train")

    def program() -> None:
        kueue = pulumi.CustomResource("test:index:Kueue", "kueue")
        NodePool("pool", NodePoolArgs(pool, kueue, contracted=4608))

    run = run_program(program, "test")
    (outputs,) = [o for urn, o in run.registered_outputs.items() if urn.endswith("NodePool::pool")]
    # 224 racks x 18 x 4 = 16,128 GPUs; 16,128 - 4,608 contracted = 11,520 unassigned
    assert outputs == {"flavor": "c6-train", "queue": "c6-train", "gpus": 16128, "unassigned": 11520}


def test_node_pool_refuses_more_contracted_gpus_than_it_has() -> None:
    pool = load_site(NARVIK).cluster("c6").pool("train")
    with pytest.raises(ValueError, match="16129 GPUs contracted"):
        NodePool("pool", NodePoolArgs(pool, None, contracted=16129))
