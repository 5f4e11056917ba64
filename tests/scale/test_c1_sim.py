"""Narvik's cluster c1 at full size on the simulator, as a stack and in a rollout: `gigafactory up
--stack narvik-c1-sim` by the real Pulumi engine against a simulator of all 4,256 nodes, Kueue's
objects for c1 as the model gives them; then the canary rack and a two-rack batch of the first SU
rolled by the project's own playbook (playbooks/project/rollout.yml, through ansible-runner) in
the model's batches, each batch's wall time recorded for the benchmarks; then `destroy`, leaving
nothing behind.

In file order, on one simulator of stack narvik-c1-sim (private state folders) that this module
starts and stops: it sorts before test_placement.py, whose session simulator (narvik-c1) starts
after it, so two full-size simulators never run at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from gigafactory.sim import cluster as sim
from gigafactory.sim import kube, rollout
from gigafactory.site.model import GPU_RESOURCE, TOPOLOGY_LEVELS, Cluster
from gigafactory.stack.engine import ENV_STATE_DIR
from gigafactory.stack.render import RELEASE_TYPE, render_stack
from tests.conftest import REPO, require_toolchain
from tests.engine.conftest import BINARIES

pytestmark = pytest.mark.scale

STACK = "narvik-c1-sim"
KUEUE = "/apis/kueue.x-k8s.io/v1beta2"
TENANT_NAMESPACE = "tenant-msft-c1"
RELEASE_NAMESPACE = "gigafactory-tenants"
ROLLOUT_NAMESPACE = "scale-rollout"
CLI_TIMEOUT = 900
WAIT_S = 180.0


@dataclass
class FullSize:
    env: dict[str, str]
    cluster: Cluster
    sim_up_s: float
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall seconds of each CLI step (up, destroy), for the benchmark note."""

    def gigafactory(self, *args: str) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "gigafactory", "--project-dir", str(REPO), *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=self.env,
            timeout=CLI_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        self.seconds[args[0]] = time.monotonic() - started
        return proc


@pytest.fixture(scope="module")
def c1sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullSize]:
    require_toolchain(*BINARIES)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(sim.ENV_DIR, str(tmp_path_factory.mktemp("sim-state")))
        mp.setenv(ENV_STATE_DIR, str(tmp_path_factory.mktemp("engine-state")))
        mp.delenv("PULUMI_BACKEND_URL", raising=False)
        mp.delenv("KUBECONFIG", raising=False)
        try:
            started = time.monotonic()
            status = sim.up(STACK)
            _, cluster = sim.target(STACK)
            # 232 NVL72 racks x 18 trays + 3 system racks x 16 + 2 storage racks x 16, all Ready.
            assert status.ready and sum(p.ready for p in status.pools) == 232 * 18 + 3 * 16 + 2 * 16 == 4256
            handle = FullSize(dict(os.environ), cluster, time.monotonic() - started)
            yield handle
            print(
                f"\n{STACK}: sim up {handle.sim_up_s:.1f} s, "
                + ", ".join(f"{k} {v:.1f} s" for k, v in handle.seconds.items())
            )
        finally:
            sim.down(STACK)


def _get(api: Any, path: str) -> dict[str, Any] | None:
    code, data = kube.request(api, "GET", path)
    if code == 404:
        return None
    assert code == 200, f"GET {path}: {code}: {kube.message(data)}"
    return dict(data)


def _declared() -> list[dict[str, Any]]:
    """Every Kubernetes object the stack declares itself, as the program gives it."""
    return [
        r["inputs"]
        for r in render_stack(STACK).resources
        if r["type"].startswith("kubernetes:") and r["type"] != RELEASE_TYPE
    ]


def _path(obj: dict[str, Any]) -> str:
    group_version = obj["apiVersion"]
    base = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
    plural = {
        "Topology": "topologies",
        "PriorityClass": "priorityclasses",
        "StorageClass": "storageclasses",
        "ValidatingAdmissionPolicy": "validatingadmissionpolicies",
    }.get(obj["kind"], obj["kind"].lower() + "s")
    ns = obj["metadata"].get("namespace")
    return f"{base}/{'namespaces/' + ns + '/' if ns else ''}{plural}/{obj['metadata']['name']}"


def _contains(live: Any, declared: Any) -> bool:
    """Every field the program declared is in the live object with the same value (Kueue's and
    the API server's defaults may add fields)."""
    if isinstance(declared, dict):
        return isinstance(live, dict) and all(
            k in live and _contains(live[k], v) for k, v in declared.items()
        )
    if isinstance(declared, list):
        return isinstance(live, list) and len(live) == len(declared) and all(map(_contains, live, declared))
    return bool(live == declared or str(live) == str(declared))


def test_up_applies_the_c1_stack_through_the_engine(c1sim: FullSize) -> None:
    proc = c1sim.gigafactory("up", "--stack", STACK, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "left to the environment: cni, observability, kueue, gpu" in proc.stdout
    assert f"{STACK}: updated in" in proc.stdout


def test_kueue_objects_for_c1_are_the_models(c1sim: FullSize) -> None:
    cluster = c1sim.cluster
    with sim.api_client(STACK) as api:
        for obj in _declared():
            live = _get(api, _path(obj))
            assert live is not None, f"{obj['kind']} {obj['metadata']['name']} is not in the API server"
            assert _contains(live.get("spec", live), obj.get("spec", {})), f"{obj['kind']} differs: {live}"

        # Figures from the model, by hand: one flavor per pool with the pool's labels and taints.
        for pool in cluster.pools:
            flavor = _get(api, f"{KUEUE}/resourceflavors/{pool.kueue_name}")
            assert flavor is not None, pool.name
            assert flavor["spec"]["nodeLabels"] == pool.labels
            assert [(t["key"], t["effect"]) for t in flavor["spec"].get("nodeTaints", [])] == [
                (t.key, t.effect) for t in pool.taints
            ]
        train = cluster.pool("train")
        topology = _get(api, f"{KUEUE}/topologies/{train.kueue_name}")
        assert topology is not None
        assert [level["nodeLabel"] for level in topology["spec"]["levels"]] == list(TOPOLOGY_LEVELS)
        train_flavor = _get(api, f"{KUEUE}/resourceflavors/{train.kueue_name}")
        assert train_flavor is not None and train_flavor["spec"]["topologyName"] == train.kueue_name

        # Tenant msft-c1 owns all of pool train: 232 racks x 18 trays x 4 GPUs = 16,704 GPUs.
        tenant = _get(api, f"{KUEUE}/clusterqueues/tenant-msft-c1")
        assert tenant is not None
        quota = tenant["spec"]["resourceGroups"][0]["flavors"][0]
        assert quota["name"] == train.kueue_name
        assert [(r["name"], str(r["nominalQuota"])) for r in quota["resources"]] == [
            (GPU_RESOURCE, str(232 * 18 * 4))
        ]
        local = _get(api, f"{KUEUE}/namespaces/{TENANT_NAMESPACE}/localqueues/default")
        assert local is not None and local["spec"]["clusterQueue"] == "tenant-msft-c1"

        # Kueue accepted every queue with c1's topology of 4,176 GPU trays.
        def active() -> list[str]:
            code, data = kube.request(api, "GET", f"{KUEUE}/clusterqueues")
            assert code == 200
            return [
                q["metadata"]["name"]
                for q in data["items"]
                if not any(
                    c["type"] == "Active" and c["status"] == "True"
                    for c in q.get("status", {}).get("conditions", [])
                )
            ]

        deadline = time.monotonic() + WAIT_S
        while active() and time.monotonic() < deadline:
            time.sleep(1.0)
        assert active() == [], "cluster queues Kueue does not run"


def test_the_canary_and_a_two_rack_batch_roll_with_the_playbook_in_the_models_batches(
    c1sim: FullSize,
) -> None:
    """The first two batches of the model at 2 racks per batch in hall-a-su001 (the whole SU,
    144 trays, is the benchmark's: ~15 min of Ansible controller time on 2 cores)."""
    cluster = c1sim.cluster
    pool = cluster.pool("train")
    su = pool.su_name(pool.first_rack_position)  # hall-a-su001: the pool's first SU, with the canary
    batches = rollout.model_batches(cluster, su, batch_racks=2)
    # Inside the SU: the canary rack (18 trays), then racks 2-3, 4-5, 6-7 (36 each), then rack 8.
    assert [(len(b.racks), b.nodes) for b in batches] == [(1, 18), (2, 36), (2, 36), (2, 36), (1, 18)]
    batches = batches[:2]
    assert [b.canary for b in batches] == [True, False]
    hosts = [rollout.batch_hosts(cluster, b) for b in batches]
    names = [n for group in hosts for n in group]
    assert len(names) == 18 + 2 * 18
    with sim.api_client(STACK) as api:
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ROLLOUT_NAMESPACE}}
        code, data = kube.request(api, "POST", "/api/v1/namespaces", ns)
        assert code == 201, kube.message(data)
        try:
            before = set(rollout.place_workload(api, ROLLOUT_NAMESPACE, names))
            runs = rollout.rehearse(STACK, batches, progress=print)  # shown with -s

            # The playbook's batches are the model's, host for host; its drain evicted one pod a node.
            assert [list(r.hosts) for r in runs] == hosts
            assert [r.evicted for r in runs] == [18, 36]
            after = rollout.running_pods(api, ROLLOUT_NAMESPACE)
            assert not before & {p["metadata"]["uid"] for p in after}, "a pod outlived its node's drain"
            for name in names:
                node = _get(api, f"/api/v1/nodes/{name}")
                assert node is not None and not node["spec"].get("unschedulable"), f"{name} still cordoned"
                assert rollout.FAILURE_ANNOTATION not in (node["metadata"].get("annotations") or {})

            # Wall time per batch against the model's batch_overhead is a benchmark
            # (benchmarks/bench_rollout.py), not an assertion: here every batch must have its
            # timing recorded for that comparison.
            assert all(r.seconds > 0 for r in runs), [r.to_json() for r in runs]
        finally:
            kube.request(api, "DELETE", f"/api/v1/namespaces/{ROLLOUT_NAMESPACE}")


def test_destroy_leaves_nothing_behind(c1sim: FullSize) -> None:
    proc = c1sim.gigafactory("destroy", "--stack", STACK, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with sim.api_client(STACK) as api:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and any(
            _get(api, f"/api/v1/namespaces/{ns}") for ns in (TENANT_NAMESPACE, RELEASE_NAMESPACE)
        ):
            time.sleep(1.0)
        left = [
            f"{o['kind']} {o['metadata']['name']}" for o in _declared() if _get(api, _path(o)) is not None
        ]
        left += [
            f"namespace {ns}"
            for ns in (TENANT_NAMESPACE, RELEASE_NAMESPACE)
            if _get(api, f"/api/v1/namespaces/{ns}")
        ]
        for plural in ("clusterqueues", "resourceflavors", "topologies", "localqueues"):
            code, data = kube.request(api, "GET", f"{KUEUE}/{plural}")
            assert code == 200
            left += [f"{plural} {i['metadata']['name']}" for i in data["items"]]
        assert left == [], f"left behind by destroy: {left}"
