"""New GPU nodes register with the untested taint until a burn-in admits them."""

from __future__ import annotations

from gigafactory.site import load_site
from gigafactory.site.model import UNTESTED_TAINT, Taint
from tests.conftest import NARVIK


def test_untested_taint_is_one_key_value_and_effect() -> None:
    assert Taint("gigafactory.io/untested", "true", "NoSchedule") == UNTESTED_TAINT
    assert UNTESTED_TAINT.kubelet() == "gigafactory.io/untested=true:NoSchedule"


def test_new_gpu_nodes_register_with_the_pool_taints_and_the_untested_taint() -> None:
    pool = load_site(NARVIK).cluster("c1").pool("train")
    assert pool.untested_taint == UNTESTED_TAINT
    assert pool.registration_taints == (*pool.taints, UNTESTED_TAINT)
    assert ",".join(t.kubelet() for t in pool.registration_taints) == (
        "nvidia.com/gpu=present:NoSchedule,gigafactory.io/untested=true:NoSchedule"
    )
    # what admitted nodes carry, and what Kueue flavors tolerate, stays the pool taint alone
    assert [t.kubelet() for t in pool.taints] == ["nvidia.com/gpu=present:NoSchedule"]
    assert UNTESTED_TAINT.toleration() not in pool.tolerations


def test_cpu_pools_have_no_burn_in_and_no_untested_taint() -> None:
    site = load_site(NARVIK)
    for name in ("system", "storage"):
        pool = site.cluster("c1").pool(name)
        assert pool.untested_taint is None
        assert pool.registration_taints == pool.taints


def test_gpu_node_daemons_tolerate_untested_nodes_but_kueue_flavors_do_not() -> None:
    cluster = load_site(NARVIK).cluster("c1")
    # GPU operator, network operator and DRA driver daemons: the burn-in needs them there
    assert cluster.gpu_tolerations == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule", "operator": "Equal"},
        {"key": "gigafactory.io/untested", "value": "true", "effect": "NoSchedule", "operator": "Equal"},
    ]
    # Kueue ResourceFlavors (tenant and platform jobs): never on an untested node
    assert UNTESTED_TAINT.toleration() not in cluster.pool("train").tolerations
