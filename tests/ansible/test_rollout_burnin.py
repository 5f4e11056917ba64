"""The rollout's burn-in: registered -> burn-in -> admitted.

Three layers, each against the most real thing that decides it:

- the verdict filters (filter_plugins/burnin.py) on Job and pod objects shaped as the API
  server returns them (their shape is checked by the simulator test below, which feeds the
  filters the real objects);
- the chart arguments the rollout passes, rendered by the pinned helm: the SKU's floors from
  the catalog survive, the run is narrowed to the batch's nodes and tolerates their cordon;
- the rollout playbook (``--tags burnin``: validation, cordon, drain, Ready wait, health, burn-in,
  uncordon; the node roles are tested in test_prepare.py and test_rollout.py, and take 40 minutes
  on fresh containers of a loaded 2-core machine) on container nodes against the simulator's
  real API server (kube-apiserver,
  controller manager with the Job controller, scheduler, KWOK nodes made from the model): real
  kubectl cordons and drains, real helm installs the chart, the Job controller marks indexes
  failed. Nothing runs inside a simulated pod, so the test decides how each pod ends through the
  KWOK stage ``pod-complete`` (gigafactory/sim/kwok.py): it annotates the pod on the node that
  should fail with exit code 1 and the verdict line the chart's report step would write.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gigafactory.baremetal import burnin as burnin_lib
from gigafactory.site.model import UNTESTED_TAINT_KEY
from tests.ansible.conftest import (
    CONTAINER_VARS,
    PROJECT,
    REPO,
    Engine,
    PlaybookResult,
    run_playbook,
    start_nodes,
    write_inventory,
)

FILTERS = PROJECT / "filter_plugins"
JOB = "burnin-lab-r0002-gpu-burnin-node"


def _filters() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gf_burnin_filters", FILTERS / "burnin.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


burnin = _filters()


# --- verdicts -------------------------------------------------------------------------------------


def _job(
    uid: str = "u1", failed: str | None = None, condition: str = "Complete", reason: str = ""
) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": [{"type": condition, "status": "True", "reason": reason}]}
    if failed is not None:
        status["failedIndexes"] = failed
    return {"metadata": {"name": JOB, "uid": uid}, "status": status}


def _pod(
    index: int, node: str, phase: str, uid: str = "u1", message: str = "", code: int = 0
) -> dict[str, Any]:
    terminated = {"exitCode": code, "message": message}
    return {
        "metadata": {
            "name": f"{JOB}-{index}-x",
            "labels": {burnin.INDEX_LABEL: str(index)},
            "ownerReferences": [{"kind": "Job", "uid": uid}],
        },
        "spec": {"nodeName": node},
        "status": {
            "phase": phase,
            "containerStatuses": [{"name": "report", "state": {"terminated": terminated}}],
        },
    }


FAIL_LINE = '{"node":"b","dcgm":"fail","dcgm_level":3,"nvlink":"pass","nccl":"pass","result":"fail"}'


def test_failed_index_fails_its_node_with_the_report_line() -> None:
    pods = {"items": [_pod(0, "a", "Succeeded"), _pod(1, "b", "Failed", message=FAIL_LINE, code=1)]}
    verdicts = burnin.burnin_verdicts(
        _job(failed="1", condition="Failed", reason="FailedIndexes"), pods, ["a", "b"]
    )
    assert verdicts == {"a": "", "b": f"burn-in {JOB} index 1 failed: {FAIL_LINE}"}


def test_failed_pod_without_a_message_names_its_exit_code() -> None:
    pods = {"items": [_pod(0, "a", "Failed", code=137)]}
    verdicts = burnin.burnin_verdicts(_job(failed="0", condition="Failed"), pods, ["a"])
    assert verdicts == {"a": f"burn-in {JOB} index 0 failed: exit code 137"}


def test_node_without_a_pod_fails_even_when_the_job_completed() -> None:
    # The selection held another node than the batch's: the Job is Complete, yet node b was
    # never tested, so it must not be admitted.
    pods = {"items": [_pod(0, "a", "Succeeded"), _pod(1, "elsewhere", "Succeeded")]}
    verdicts = burnin.burnin_verdicts(_job(), pods, ["a", "b"])
    assert verdicts == {"a": "", "b": f"burn-in {JOB} ran no pod on the node (Complete)"}


def test_deadline_names_the_job_reason_for_a_node_whose_pod_never_ran() -> None:
    verdicts = burnin.burnin_verdicts(
        _job(condition="Failed", reason="DeadlineExceeded"), {"items": []}, ["a"]
    )
    assert verdicts == {"a": f"burn-in {JOB} ran no pod on the node (DeadlineExceeded)"}


def test_pods_of_an_earlier_job_of_the_same_name_are_ignored() -> None:
    # An earlier run's pod (uid old) succeeded on b; this run's pod on b failed.
    pods = {"items": [_pod(1, "b", "Succeeded", uid="old"), _pod(1, "b", "Failed", code=1)]}
    verdicts = burnin.burnin_verdicts(_job(failed="1", condition="Failed"), pods, ["b"])
    assert verdicts == {"b": f"burn-in {JOB} index 1 failed: exit code 1"}


def test_succeeded_pod_of_a_failed_index_does_not_pass() -> None:
    # failedIndexes "0,2-3" holds 0, 2 and 3: the Job's word wins over a pod phase.
    pods = {"items": [_pod(3, "d", "Succeeded"), _pod(1, "b", "Succeeded")]}
    verdicts = burnin.burnin_verdicts(_job(failed="0,2-3", condition="Failed"), pods, ["b", "d"])
    assert verdicts["b"] == ""
    assert verdicts["d"].startswith(f"burn-in {JOB} ended with the node's pod Succeeded")


def test_runs_are_one_per_rack_in_host_order() -> None:
    hv = {
        "x1": {
            "gigafactory_rack": "hall-a-r0002",
            "gigafactory_pool": "gb300",
            "gigafactory_sku": "gb300-nvl72",
        },
        "x2": {
            "gigafactory_rack": "hall-a-r0001",
            "gigafactory_pool": "gb300",
            "gigafactory_sku": "gb300-nvl72",
        },
        "x3": {
            "gigafactory_rack": "hall-a-r0002",
            "gigafactory_pool": "gb300",
            "gigafactory_sku": "gb300-nvl72",
        },
    }
    runs = burnin.burnin_runs(["x1", "x2", "x3"], hv)
    assert [(r["release"], r["nodes"]) for r in runs] == [
        ("burnin-hall-a-r0002", ["x1", "x3"]),
        ("burnin-hall-a-r0001", ["x2"]),
    ]


def test_host_without_site_variables_is_refused() -> None:
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match="host x1 lacks gigafactory_sku"):
        burnin.burnin_runs(["x1"], {"x1": {"gigafactory_rack": "r", "gigafactory_pool": "p"}})


# --- chart arguments, rendered by the pinned helm -------------------------------------------------


def _helm() -> Path:
    proc = subprocess.run(
        [str(REPO / "scripts" / "setup-helm.sh")], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"scripts/setup-helm.sh failed: {proc.stderr}", pytrace=False)
    return Path(proc.stdout.strip().splitlines()[-1])


ROLLOUT_DEFAULTS = yaml.safe_load((PROJECT / "roles" / "rollout" / "defaults" / "main.yml").read_text())


def test_rollout_values_keep_the_sku_floor_and_narrow_the_run_to_the_batch() -> None:
    label = ROLLOUT_DEFAULTS["rollout_burnin_node_label"]
    values = {
        "target": {
            "pool": "gb300",
            "rack": "hall-a-r0001",
            "nodes": 2,
            "extraNodeSelector": {label: "burnin-hall-a-r0001"},
            "extraTolerations": ROLLOUT_DEFAULTS["rollout_burnin_tolerations"],
        },
        "perNode": {"enabled": True, "activeDeadlineSeconds": 7200},
        "multiNode": {"enabled": False},
        "admission": {"enabled": False},
    }
    args = burnin.helm_set_json(values)
    # Leaves only, so the SKU file's target.gpusPerNode and perNode.nccl floor survive; the
    # label-keyed selector is one map.
    assert f'--set-json=target.extraNodeSelector={{"{label}":"burnin-hall-a-r0001"}}' in args
    assert "--set-json=target.nodes=2" in args
    chart = REPO / "charts" / "gpu-burnin"
    proc = subprocess.run(
        [str(_helm()), "template", "burnin-hall-a-r0001", str(chart), "--namespace=gpu-burnin",
         f"--values={chart / 'skus' / 'dgx-b200.yaml'}", *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    job = next(d for d in docs if d["kind"] == "Job")
    spec = job["spec"]["template"]["spec"]
    assert job["metadata"]["name"] == "burnin-hall-a-r0001-gpu-burnin-node"
    assert job["spec"]["completions"] == 2
    assert spec["nodeSelector"] == {
        "gigafactory.io/pool": "gb300",
        "gigafactory.io/rack": "hall-a-r0001",
        label: "burnin-hall-a-r0001",
    }
    assert {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]
    # The rollout admits the node itself: no admit step in the pod, the report is its container.
    assert [c["name"] for c in spec["containers"]] == ["report"]
    # DGX B200: 8 GPUs per node, the catalog's all-reduce floor (skus/dgx-b200.yaml).
    floor = burnin_lib.sku_values("dgx-b200")["perNode"]["nccl"]["minBusBandwidthGBps"]
    nccl = next(c for c in spec["initContainers"] if c["name"] == "nccl-single-node")
    env = {e["name"]: e["value"] for e in nccl["env"]}
    # 1.8 TB/s NVLink 5 both ways = 900 GB/s a direction; 80% of it = 720 GB/s (hardware.yaml).
    assert floor == 900 * 0.8 == 720
    assert env["GPUS"] == "8" and float(env["MIN_BUSBW_GBPS"]) == floor
    assert nccl["resources"]["limits"]["nvidia.com/gpu"] == 8
    dcgm = next(c for c in spec["initContainers"] if c["name"] == "dcgm-diag")
    assert {"name": "DCGM_LEVEL", "value": "3"} in dcgm["env"]  # acceptance level, the chart's default


# --- the rollout against the simulator's API server ----------------------------------------------

STACK = "sim"
GPU_NODES = ["lab-r0002-n01", "lab-r0002-n02"]
CPU_NODE = "lab-r0001-n01"
REPORT_PASS = '{"node":"%s","dcgm":"pass","dcgm_level":3,"nvlink":"pass","nccl":"pass","result":"pass"}'
REPORT_FAIL = '{"node":"%s","dcgm":"fail","dcgm_level":3,"nvlink":"pass","nccl":"pass","result":"fail"}'


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The laptop stack's simulator (kind.yaml cluster dev: 1 CPU node, 2 GB300 trays in rack
    lab-r0002); yields its admin kubeconfig; stopped at the end."""
    from gigafactory.sim import cluster as sim
    from tests.conftest import require_toolchain

    require_toolchain(
        "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kueue", "kubectl"
    )
    root = tmp_path_factory.mktemp("sim-burnin")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(sim.ENV_DIR, str(root))
        try:
            sim.up(STACK)
            yield sim.kubeconfig_path(STACK)
        finally:
            sim.down(STACK)


@pytest.fixture(scope="module")
def tools(simulator: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """kubectl and helm wrappers bound to the simulator's kubeconfig (rollout_kubectl, rollout_helm)."""
    from gigafactory import toolchain

    d = tmp_path_factory.mktemp("burnin-tools")
    out = {}
    for name, binary in (("kubectl", toolchain.binary("kubectl")), ("helm", _helm())):
        script = d / name
        script.write_text(f'#!/bin/sh\nexec {binary} --kubeconfig={simulator} "$@"\n')
        script.chmod(0o755)
        out[name] = script
    return out


def _kubectl(tools: dict[str, Path], *args: str) -> str:
    return subprocess.run([str(tools["kubectl"]), *args], capture_output=True, text=True, check=True).stdout


def _node(tools: dict[str, Path], name: str) -> dict[str, Any]:
    return json.loads(_kubectl(tools, "get", "node", name, "-o", "json"))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def lab_nodes(engine: Engine, node_image: str, mirror: Path, session_dir: Path) -> Path:
    """Container hosts named after the laptop site's nodes; the inventory lists the GPU rack first
    (an operator may order racks as they like), so the GPU rack is the canary and the CPU rack
    a later batch that a failed canary must leave alone."""
    from gigafactory.baremetal.inventory import build
    from gigafactory.site import load_site

    names = [*GPU_NODES, CPU_NODE]
    start_nodes(engine, node_image, mirror, names)
    inv = build(load_site(REPO / "sites" / "kind.yaml"), "dev")
    merged = inv.merged_hostvars()
    groups: dict[str, Any] = {"kube_control_plane": {"hosts": {}}}
    for group in ("rack_lab_r0002", "rack_lab_r0001"):
        groups[group] = {"hosts": dict.fromkeys(inv.groups[group].hosts)}
    hostvars = {h: {**merged[h], "ansible_host": h} for h in names}
    return write_inventory(session_dir / "lab-nodes.yml", engine, groups, hostvars)


class PodOutcomes:
    """Ends each burn-in pod as the test says, by node: annotates Running pods of the Job with the
    exit code and verdict line the chart's report step would write (KWOK's pod-complete stage
    then finishes them)."""

    def __init__(self, tools: dict[str, Path], failing: set[str]) -> None:
        self.tools, self.failing = tools, failing
        self.done: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PodOutcomes:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        from gigafactory.sim.kwok import EXIT_CODE_ANNOTATION, MESSAGE_ANNOTATION

        while not self._stop.wait(2):
            proc = subprocess.run(
                [str(self.tools["kubectl"]), "get", "pods", "-n", "gpu-burnin", "-l",
                 f"batch.kubernetes.io/job-name={JOB}", "-o", "json"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if proc.returncode != 0:
                continue
            for pod in json.loads(proc.stdout)["items"]:
                name, node = pod["metadata"]["name"], pod["spec"].get("nodeName")
                if not node or pod["status"].get("phase") != "Running" or name in self.done:
                    continue
                fail = node in self.failing
                subprocess.run(
                    [str(self.tools["kubectl"]), "annotate", "pod", "-n", "gpu-burnin", name, "--overwrite",
                     f"{EXIT_CODE_ANNOTATION}={1 if fail else 0}",
                     f"{MESSAGE_ANNOTATION}={(REPORT_FAIL if fail else REPORT_PASS) % node}"],
                    capture_output=True, text=True, check=False,
                )  # fmt: skip
                self.done.add(name)


def _register_untested(tools: dict[str, Path]) -> None:
    """What kubelet registers a new GPU node with (the prepare test checks its drop-in): the
    simulator creates admitted nodes, so the test puts the untested taint on them."""
    for node in GPU_NODES:
        _kubectl(tools, "taint", "nodes", node, f"{UNTESTED_TAINT_KEY}=true:NoSchedule", "--overwrite")


def _rollout(
    lab_nodes: Path, tools: dict[str, Path], session_dir: Path, name: str
) -> tuple[PlaybookResult, Path]:
    summary = session_dir / name
    summary.mkdir()
    result = run_playbook(
        "rollout.yml",
        lab_nodes,
        extra_vars={
            **CONTAINER_VARS,
            "rollout_kubectl": str(tools["kubectl"]),
            "rollout_helm": str(tools["helm"]),
            "rollout_hardware": False,
            "rollout_burnin_poll": 3,
            "rollout_burnin_deadline": 300,
            "rollout_drain_timeout": 60,
            "rollout_ready_timeout": 60,
            "rollout_report_dir": str(summary),
            # The nodes are fresh containers: the roles do not run (--tags burnin), so there is
            # nothing for the health gate's file checks to find (test_rollout.py checks them).
            "health_required_files": [],
            "health_required_commands": [],
        },
        tags=["burnin"],
        timeout=2400,
    )
    return result, summary


def _taint_keys(node: dict[str, Any]) -> list[str]:
    return [t["key"] for t in node["spec"].get("taints") or []]


@pytest.mark.containers
def test_burnin_admits_passing_nodes_and_keeps_a_failed_one_cordoned(
    lab_nodes: Path, tools: dict[str, Path], session_dir: Path
) -> None:
    # 1. Every GPU node passes: the untested taint goes, the nodes are uncordoned, their labels
    #    stay the model's (the run's selector label is gone).
    _register_untested(tools)
    labels_before = {n: _node(tools, n)["metadata"]["labels"] for n in GPU_NODES}
    with PodOutcomes(tools, failing=set()) as outcomes:
        result, _ = _rollout(lab_nodes, tools, session_dir, "burnin-pass")
    assert result.rc == 0, result.failures()
    assert len(outcomes.done) == 2, outcomes.done  # one pod per GPU node: 2 indexes
    for name in GPU_NODES:
        node = _node(tools, name)
        assert UNTESTED_TAINT_KEY not in _taint_keys(node), name
        assert _taint_keys(node) == ["nvidia.com/gpu"], name
        assert not node["spec"].get("unschedulable"), name
        assert node["metadata"]["labels"] == labels_before[name], name
    job = json.loads(_kubectl(tools, "get", "job", JOB, "-n", "gpu-burnin", "-o", "json"))
    assert job["spec"]["completions"] == 2 and job["status"].get("succeeded") == 2

    # 2. Node n02 fails its burn-in (index of its pod): it stays cordoned, untested, with the
    #    reason; n01 of the same rack passes and is admitted; the CPU rack after it is untouched.
    _register_untested(tools)
    failing = GPU_NODES[1]
    with PodOutcomes(tools, failing={failing}):
        result, summary = _rollout(lab_nodes, tools, session_dir, "burnin-fail")
    assert result.rc != 0
    job = json.loads(_kubectl(tools, "get", "job", JOB, "-n", "gpu-burnin", "-o", "json"))
    pods = json.loads(_kubectl(tools, "get", "pods", "-n", "gpu-burnin", "-l", f"batch.kubernetes.io/job-name={JOB}",
                               "-o", "json"))  # fmt: skip
    index = next(
        p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"]
        for p in pods["items"]
        if p["spec"]["nodeName"] == failing
        and p["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    )
    # The real Job controller's word: exactly the failing node's index failed.
    assert job["status"]["failedIndexes"] == index
    bad = _node(tools, failing)
    assert bad["spec"].get("unschedulable") is True
    assert UNTESTED_TAINT_KEY in _taint_keys(bad)
    reason = bad["metadata"]["annotations"]["gigafactory.io/rollout-failure"]
    assert reason == f"Check the burn-in passed: burn-in {JOB} index {index} failed: {REPORT_FAIL % failing}"
    good = _node(tools, GPU_NODES[0])
    assert not good["spec"].get("unschedulable") and UNTESTED_TAINT_KEY not in _taint_keys(good)
    assert "gigafactory.io/rollout-failure" not in good["metadata"].get("annotations", {})
    report = json.loads((summary / "rollout-failed.json").read_text())
    assert report["cordoned"] == {failing: reason}
    assert report["stopped"].startswith("rollout stopped at the batch of 2 nodes starting with lab-r0002-n01")
    cordoned = {
        h for n, h, r in result.task_results() if n.endswith("Cordon the node") and not r.get("skipped")
    }
    assert cordoned == set(GPU_NODES), cordoned  # the CPU rack's batch never started
    assert not _node(tools, CPU_NODE)["spec"].get("unschedulable")
    # The run's selector label is gone from both trays, failed or not.
    for name in GPU_NODES:
        assert "gigafactory.io/burnin" not in _node(tools, name)["metadata"]["labels"], name


def test_kwok_stage_completes_only_annotated_running_pods() -> None:
    from gigafactory.sim import kwok

    stage = next(s for s in kwok.stages() if s["metadata"]["name"] == "pod-complete")
    exprs = stage["spec"]["selector"]["matchExpressions"]
    assert {"key": ".status.phase", "operator": "In", "values": ["Running"]} in exprs
    assert {"key": f'.metadata.annotations["{kwok.EXIT_CODE_ANNOTATION}"]', "operator": "Exists"} in exprs
    template = stage["spec"]["next"]["statusTemplate"]
    assert f'index .metadata.annotations "{kwok.EXIT_CODE_ANNOTATION}"' in template
    assert 'phase: {{ if eq $code "0" }}Succeeded{{ else }}Failed{{ end }}' in template
