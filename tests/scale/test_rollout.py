"""Rollout rehearsal of one scalable unit on the full-size c1 simulator with the project's own
playbook (playbooks/project/rollout.yml, through ansible-runner): the model's batches (the canary
rack, then the rest of its SU), cordon / drain / Ready wait / uncordon through the API server, and
the measured batch times against the rollout-time model's per-batch overhead."""

from __future__ import annotations

import pytest

from gigafactory.planning.rollout import StepCosts, batch_minutes
from gigafactory.sim import kube, placement, rollout
from tests.scale.conftest import Scale

pytestmark = pytest.mark.scale

NAMESPACE = "scale-rollout"


def test_one_su_rolls_with_the_playbook_in_the_models_batches(c1: Scale) -> None:
    pool = c1.cluster.pool("train")
    su = pool.su_name(pool.first_rack_position)  # hall-a-su001: the pool's first SU, with the canary
    batches = rollout.model_batches(c1.cluster, su)
    # The canary: 1 rack of 18 trays alone; then the other 7 racks of its SU: 7 x 18 = 126 trays.
    assert [(len(b.racks), b.nodes, b.canary) for b in batches] == [(1, 18, True), (7, 126, False)]
    hosts = [rollout.batch_hosts(c1.cluster, b) for b in batches]
    names = [n for group in hosts for n in group]
    assert len(names) == 8 * 18
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    placement.apply(c1.api, [ns])
    try:
        before = set(rollout.place_workload(c1.api, NAMESPACE, names))
        runs = rollout.rehearse(c1.stack, batches)

        # The playbook's batches are the model's, host for host, and its drain evicted one pod per node.
        assert [list(r.hosts) for r in runs] == hosts
        assert [r.evicted for r in runs] == [18, 126]
        after = rollout.running_pods(c1.api, NAMESPACE)
        assert not before & {p["metadata"]["uid"] for p in after}, "a pod outlived its node's drain"
        for name in names:
            code, node = kube.request(c1.api, "GET", f"/api/v1/nodes/{name}")
            assert code == 200 and not node["spec"].get("unschedulable"), f"{name} still cordoned"
            assert rollout.FAILURE_ANNOTATION not in (node["metadata"].get("annotations") or {})

        # The model's estimate of a rehearsal batch: its node-preparation steps are left out (0 min
        # per node), so one batch is the per-batch overhead alone: 0 x waves + 2.0 min = 120 s.
        rehearsal = StepCosts(drain=0, install=0, reboot=0, health=0, burnin=0)
        for run in runs:
            estimate_s = batch_minutes(run.batch.nodes, rehearsal, rollout.FORKS) * 60
            assert estimate_s == 120.0
            assert run.seconds <= estimate_s, (
                f"batch {run.batch.index} ({run.batch.nodes} nodes) took {run.seconds:.1f} s on the "
                f"simulator, above the model's {estimate_s:.0f} s per batch: {run.to_json()}"
            )
    finally:
        placement.delete(c1.api, [ns])
