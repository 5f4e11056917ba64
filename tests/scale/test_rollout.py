"""Rollout rehearsal of one scalable unit on the full-size c1 simulator: the model's batches
(canary rack, then the rest of the SU), cordon / drain / uncordon through the API server."""

from __future__ import annotations

import pytest

from gigafactory.sim import kube, placement, rollout
from tests.scale.conftest import Scale

pytestmark = pytest.mark.scale


def test_one_su_rolls_in_the_models_batches_and_every_node_comes_back(c1: Scale) -> None:
    pool = c1.cluster.pool("train")
    su = pool.su_name(pool.first_rack_position)  # hall-a-su001: the pool's first SU, with the canary
    batches = rollout.su_batches(c1.cluster, pool, su)
    # Canary: 1 rack alone, then the other 7 racks of its SU (8 racks x 18 trays = 144 nodes).
    assert [len(b.racks) for b in batches] == [1, 7] and batches[0].canary
    names = [n for b in batches for n in rollout.batch_nodes(pool, b)]
    assert len(names) == 8 * 18
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "scale-rollout"}}
    placement.apply(c1.api, [ns])
    try:
        rollout.place_pods(c1.api, "scale-rollout", names, pool.tolerations)
        timings = rollout.rehearse(c1.api, c1.cluster, pool, su)
        assert [t.nodes for t in timings] == [18, 126]
        assert [t.pods_evicted for t in timings] == [18, 126]  # one pod per node, all evicted
        code, data = kube.request(c1.api, "GET", "/api/v1/namespaces/scale-rollout/pods")
        assert code == 200 and not data["items"]
        for name in names:
            code, node = kube.request(c1.api, "GET", f"/api/v1/nodes/{name}")
            assert code == 200 and not node["spec"].get("unschedulable")
    finally:
        placement.delete(c1.api, [ns])
