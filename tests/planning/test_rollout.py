"""The rollout-time model: batches of whole racks inside scalable units, wall time, GPUs out."""

from __future__ import annotations

import configparser
import json

import pytest
from typer.testing import CliRunner

from gigafactory.cli import app
from gigafactory.planning.rollout import DEFAULT_FORKS, StepCosts, plan_rollout, su_batches
from gigafactory.site import load_site
from tests.conftest import NARVIK, REPO

# Default step costs: drain 5 + install 10 + reboot 8 + health 5 + burn-in 30 = 58 min per node,
# plus 2 min per batch, plus the controller's 0.09 min (5.4 s) for each node of a batch.
PER_NODE = 5 + 10 + 8 + 5 + 30
CONTROLLER = 0.09
# c1: 232 NVL72 racks x 18 trays + 3 system racks x 16 + 2 storage racks x 16 = 4,256 nodes
C1_NODES = 232 * 18 + 3 * 16 + 2 * 16


def test_default_batches_are_a_canary_rack_then_whole_scalable_units() -> None:
    c1 = plan_rollout(load_site(NARVIK), "c1").clusters[0]
    train = [b for b in c1.batches if b.pool == "train"]
    # 232 racks = 29 SUs of 8: canary rack 1, the other 7 racks of SU 1, then 28 whole SUs = 30 batches
    assert len(train) == 1 + 1 + 28 == 30
    assert train[0].canary and train[0].racks == ("hall-a-r0001",) and train[0].nodes == 18
    assert len(train[1].racks) == 7 and train[1].racks[0] == "hall-a-r0002"
    assert all(len(b.racks) == 8 for b in train[2:])
    for b in train:  # never across a scalable unit: racks of one batch share their SU
        assert len({(int(r.rsplit("r", 1)[1]) - 1) // 8 for r in b.racks}) == 1, b.racks
    # system (3 racks) and storage (2 racks) follow, one batch each
    assert [b.pool for b in c1.batches[30:]] == ["system", "storage"]


def test_su_batches_keep_inside_scalable_units_by_hand() -> None:
    # Two SUs of 8 racks (a..h, i..p) and a third of 2 (q, r), as the playbooks' filter and the
    # model both group them.
    sus = [list("abcdefgh"), list("ijklmnop"), list("qr")]
    # 3 racks a batch (< SU of 8): canary a, then b-d, e-g, h (the canary's SU), i-k, l-n, o-p, q-r.
    assert ["".join(b) for b in su_batches(sus, 8, 1, 3)] == [
        "a",
        "bcd",
        "efg",
        "h",
        "ijk",
        "lmn",
        "op",
        "qr",
    ]
    # 16 racks a batch = 2 whole SUs: canary a, the rest of SU 1 alone, then SUs 2 and 3 together.
    assert ["".join(b) for b in su_batches(sus, 8, 1, 16)] == ["a", "bcdefgh", "ijklmnopqr"]
    # No canary (a CPU pool), one SU a batch.
    assert ["".join(b) for b in su_batches(sus, 8, 0, 8)] == ["abcdefgh", "ijklmnop", "qr"]
    with pytest.raises(ValueError, match="batch_racks must be at least 1"):
        su_batches(sus, 8, 1, 0)


def test_wall_time_and_gpus_out_by_hand() -> None:
    plan = plan_rollout(load_site(NARVIK))
    # every batch is at most 8 racks x 18 = 144 nodes < 200 forks: one wave of 58 min + 2 min,
    # plus 0.09 min per node of the batch
    c1 = plan.clusters[0]
    assert all(b.minutes == pytest.approx(PER_NODE + 2 + b.nodes * CONTROLLER) for b in c1.batches)
    assert c1.batches[2].minutes == pytest.approx(60 + 144 * 0.09)  # a whole SU: 72.96 min
    # 32 batches x 60 min + 4,256 nodes x 0.09 min = 1,920 + 383.04 = 2,303.04 min
    assert len(c1.batches) == 32 and c1.minutes == pytest.approx(32 * 60 + C1_NODES * CONTROLLER)
    assert c1.minutes == pytest.approx(2303.04)
    # c6 has 28 SUs: 1 + 1 + 27 + 2 = 31 batches
    assert len(plan.clusters[5].batches) == 31
    # clusters in parallel: the longest cluster, 38.4 h; over the 24 h window
    assert plan.minutes == pytest.approx(2303.04) and not plan.fits_window
    # worst moment: every cluster drains a whole SU at once, 6 x 144 trays x 4 GPUs = 3,456
    assert plan.max_gpus_out == 6 * 144 * 4 == 3456
    assert plan.batch_count == 5 * 32 + 31 == 191


def test_two_sus_per_batch_miss_a_day_by_the_controller_cost_and_three_fit() -> None:
    two = plan_rollout(load_site(NARVIK), batch_racks=16, forks=300)
    c1 = two.clusters[0]
    # canary, rest of SU 1, then 28 SUs two at a time = 14, plus system and storage = 18 batches
    assert len(c1.batches) == 1 + 1 + 14 + 2 == 18
    # 18 x 60 min + 4,256 x 0.09 = 1,080 + 383.04 = 1,463.04 min = 24.4 h: just over a day
    assert two.minutes == pytest.approx(1463.04) and not two.fits_window
    # the suggestion: 24 racks (3 SUs) with forks >= 24 x 18 = 432 trays
    assert two.suggestion == (24, 432)
    three = plan_rollout(load_site(NARVIK), batch_racks=24, forks=432)
    # canary, rest of SU 1, ceil(28 / 3) = 10 batches of up to 3 SUs, system, storage = 14
    assert len(three.clusters[0].batches) == 1 + 1 + 10 + 2 == 14
    # 14 x 60 + 383.04 = 1,223.04 min = 20.4 h
    assert three.minutes == pytest.approx(1223.04) and three.fits_window


def test_forks_below_the_batch_size_add_waves() -> None:
    plan = plan_rollout(load_site(NARVIK), "c1", batch_racks=16, forks=200)
    big = [b for b in plan.clusters[0].batches if b.nodes == 288]
    # 288 trays with 200 forks: ceil(288 / 200) = 2 waves of 58 min + 2 + 288 x 0.09 = 143.92 min
    assert big and all(b.minutes == pytest.approx(2 * PER_NODE + 2 + 288 * 0.09) for b in big)
    assert big[0].minutes == pytest.approx(143.92)


def test_the_controller_cost_grows_with_the_nodes_not_the_batches() -> None:
    """The controller's per-node cost adds the same to a cluster however it is batched."""
    site = load_site(NARVIK)
    free = StepCosts(controller=0.0)
    for racks in (1, 8, 16):
        with_cost = plan_rollout(site, "c1", batch_racks=racks, forks=10**6).minutes
        without = plan_rollout(site, "c1", costs=free, batch_racks=racks, forks=10**6).minutes
        # 4,256 nodes x 0.09 min = 383.04 min, whatever the batch size
        assert with_cost - without == pytest.approx(383.04)


def test_serial_mode_adds_the_clusters_and_custom_costs_apply() -> None:
    costs = StepCosts(drain=1, install=1, reboot=1, health=1, burnin=1, batch_overhead=0, controller=0)
    plan = plan_rollout(load_site(NARVIK), costs=costs, mode="serial")
    # 5 clusters x 32 batches + 31 batches, 5 min each
    assert plan.minutes == (5 * 32 + 31) * 5
    assert plan.max_gpus_out == 144 * 4, "serial: one cluster's batch at a time"


def test_the_models_forks_are_the_controllers() -> None:
    """The plan prices the waves of the forks the project's ansible.cfg gives the controller."""
    config = configparser.ConfigParser()
    config.read(REPO / "playbooks" / "ansible.cfg")
    forks = config.getint("defaults", "forks")
    assert plan_rollout(load_site(NARVIK), "c1").forks == forks == DEFAULT_FORKS


def test_cli_json_and_bad_cluster() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["rollout-plan", str(NARVIK), "-c", "c2", "-f", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    # c2 is c1's size: 32 batches, 32 x 60 + 4,256 x 0.09 = 2,303.04 min
    assert data["batch_count"] == 32 and data["minutes"] == pytest.approx(2303.04)
    assert data["clusters"][0]["batches"][0]["canary"] is True
    bad = runner.invoke(app, ["rollout-plan", str(NARVIK), "-c", "c9"])
    assert bad.exit_code != 0
