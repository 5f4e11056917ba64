"""Rollout batch sizes from the inventory (playbooks/project/filter_plugins/rollout.py): whole
racks or scalable units of the hosts the play holds, the first unit alone as the canary."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from gigafactory.baremetal.inventory import build
from gigafactory.planning.rollout import StepCosts, plan_cluster
from gigafactory.site import load_site
from tests.ansible.conftest import PROJECT, REPO


def _filter() -> Callable[..., list[int]]:
    spec = importlib.util.spec_from_file_location(
        "rollout_filters", PROJECT / "filter_plugins" / "rollout.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    batches: Callable[..., list[int]] = module.FilterModule().filters()["rollout_batches"]
    return batches


rollout_batches = _filter()


def _groups(inv: Any) -> dict[str, list[str]]:
    """Group -> every host below it, as Ansible's ``groups`` variable shows them."""

    def hosts(name: str) -> list[str]:
        g = inv.groups[name]
        return [*(h for c in g.children for h in hosts(c)), *g.hosts]

    return {name: hosts(name) for name in inv.groups}


@pytest.fixture(scope="module")
def narvik_c1() -> tuple[list[str], dict[str, list[str]]]:
    inv = build(load_site(REPO / "sites" / "narvik.yaml"), "c1")
    order = [h for g in inv.groups.values() for h in g.hosts if not g.name.startswith("cluster_")]
    return order, _groups(inv)


def test_reference_cluster_goes_rack_by_rack(narvik_c1: tuple[list[str], dict[str, list[str]]]) -> None:
    order, groups = narvik_c1
    workers = [h for h in order if h not in groups["kube_control_plane"]]
    sizes = rollout_batches(workers, groups, "rack")
    # 232 NVL72 racks of 18 trays, then 3 system and 2 storage racks of 16 servers.
    assert sizes == [18] * 232 + [16] * 5
    assert sum(sizes) == len(workers) == 232 * 18 + 5 * 16


def test_scalable_units_hold_eight_nvl72_racks(narvik_c1: tuple[list[str], dict[str, list[str]]]) -> None:
    order, groups = narvik_c1
    train = groups["pool_c1_train"]
    sizes = rollout_batches([h for h in order if h in set(train)], groups, "su")
    # 232 racks = 29 SUs of 8 racks of 18 trays: the canary rack (18), the other 7 racks of its
    # SU (7 x 18 = 126), then the 28 other SUs (8 x 18 = 144 each).
    assert sizes == [18, 126] + [144] * 28
    assert sum(sizes) == 232 * 18


@pytest.mark.parametrize("racks", [1, 2, 3, 8, 16])
def test_playbook_batches_are_the_models(
    narvik_c1: tuple[list[str], dict[str, list[str]]], racks: int
) -> None:
    """What nodes.yml's serial makes from the inventory is the plan `gigafactory rollout-plan`
    prices, for batch sizes inside an SU, of one SU and of two SUs."""
    order, groups = narvik_c1
    workers = [h for h in order if h not in groups["kube_control_plane"]]
    cluster = load_site(REPO / "sites" / "narvik.yaml").cluster("c1")
    model = [b.nodes for b in plan_cluster(cluster, StepCosts(), 1, racks, 200).batches]
    assert rollout_batches(workers, groups, "rack", None, racks) == model


def test_two_sus_per_batch_after_the_canary_su(narvik_c1: tuple[list[str], dict[str, list[str]]]) -> None:
    order, groups = narvik_c1
    workers = [h for h in order if h not in groups["kube_control_plane"]]
    sizes = rollout_batches(workers, groups, "rack", None, 16)
    # Train pool: canary 18, rest of SU 1 126, then SUs 2..29 (28 SUs) two at a time: 14 x 288.
    # CPU pools (SU of one rack, 16 servers): 16 // 1 = 16 SUs per batch, so system's 3 racks
    # (48) and storage's 2 racks (32) are one batch each; pools never mix.
    assert sizes == [18, 126] + [288] * 14 + [48, 32]


def test_limit_and_units_per_batch() -> None:
    groups = {
        "rack_a": ["a1", "a2"],
        "rack_b": ["b1", "b2"],
        "rack_c": ["c1"],
        "rack_d": ["d1", "d2"],
    }
    order = ["a1", "a2", "b1", "b2", "c1", "d1", "d2"]
    assert rollout_batches(order, groups, "rack") == [2, 2, 1, 2]
    assert rollout_batches(order, groups, "rack", ["a2", "b1", "b2", "d2"]) == [1, 2, 1]
    # No SU or pool groups: one pool, one SU of 4 racks; the first rack is not a GPU rack, so
    # no canary: 2 racks per batch.
    assert rollout_batches(order, groups, "rack", None, 2) == [4, 3]
    # As GPU hosts the first rack is the canary, then 2 racks per batch inside the SU.
    gpu = {**groups, "gpu_nodes": order}
    assert rollout_batches(order, gpu, "rack", None, 2) == [2, 3, 2]
    # 4 racks per batch is the SU's size: the canary, then the rest of its SU on its own.
    assert rollout_batches(order, gpu, "rack", None, 4) == [2, 5]


def test_hosts_outside_the_site_inventory_are_refused() -> None:
    with pytest.raises(AnsibleFilterError, match="host x1 is in no rack group"):
        rollout_batches(["x1"], {"rack_a": ["a1"]}, "rack")
    with pytest.raises(AnsibleFilterError, match="by must be one of rack, su"):
        rollout_batches(["a1"], {"rack_a": ["a1"]}, "hall")
