"""`rollout` semantics on the container nodes: whole racks per batch by default (the first rack
is the canary), cordon and drain before the change, a Ready wait and uncordon only after the
node passed, a failure stops the rollout and leaves its node cordoned with the reason, a driver
change asks for a reboot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.ansible.conftest import CONTAINER_VARS, NODE_HOSTS, Engine, PlaybookResult, run_playbook

pytestmark = pytest.mark.containers

# Inventory order: rack 1 slots 1-2, rack 2 slot 1, rack 241 slot 1. The default batches are the
# racks the play holds: rack 1 (the canary), rack 2, rack 241.
BATCHES = [[NODE_HOSTS[0], NODE_HOSTS[1]], [NODE_HOSTS[2]], [NODE_HOSTS[3]]]
# kubectl calls for one node that passes: the last clears the reason of an earlier failure.
PASSED = ["cordon", "drain", "wait", "uncordon", "annotate"]
ANNOTATION = "gigafactory.io/rollout-failure"


@pytest.fixture(scope="module")
def prepared(nodes: Path) -> Path:
    """The nodes after prepare.yml (all at once): a rollout changes prepared nodes."""
    first = run_playbook("prepare.yml", nodes, extra_vars=CONTAINER_VARS)
    assert first.rc == 0, first.failures()
    return nodes


def _fake_kubectl(directory: Path, name: str) -> tuple[Path, Path]:
    log = directory / f"{name}.log"
    script = directory / f"{name}.sh"
    script.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    script.chmod(0o755)
    return script, log


def _lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _calls(log: Path) -> list[tuple[str, str]]:
    """(verb, node) of every recorded kubectl call, in order."""
    return [(line.split()[0], line.split()[1].removeprefix("node/")) for line in _lines(log)]


def _rollout_vars(kubectl: Path, **overrides: Any) -> dict[str, Any]:
    """Container variables, the recording kubectl and no reboot (a container cannot reboot)."""
    return {**CONTAINER_VARS, "rollout_kubectl": str(kubectl), "rollout_hardware": False, **overrides}


def _ran(result: PlaybookResult, task: str) -> set[str]:
    """Hosts on which ``task`` ran (not skipped); role tasks are named ``<role> : <task>``."""
    return {
        host
        for name, host, r in result.task_results()
        if name.split(" : ")[-1] == task and not r.get("skipped")
    }


def test_default_batches_are_whole_racks_and_nodes_uncordon_after_passing(
    prepared: Path, session_dir: Path, engine: Engine
) -> None:
    kubectl, log = _fake_kubectl(session_dir, "kubectl-ok")
    reports = session_dir / "reports-ok"
    reports.mkdir()
    result = run_playbook(
        "rollout.yml", prepared, extra_vars=_rollout_vars(kubectl, health_report_dir=str(reports))
    )
    assert result.rc == 0, result.failures()
    calls = _calls(log)
    position = 0
    for batch in BATCHES:
        # All of a batch's calls come before the next batch's; every drain before any uncordon.
        chunk = calls[position : position + len(PASSED) * len(batch)]
        position += len(PASSED) * len(batch)
        for host in batch:
            assert [verb for verb, node in chunk if node == host] == PASSED, (host, calls)
        last_drain = max(i for i, (verb, _) in enumerate(chunk) if verb == "drain")
        first_uncordon = min(i for i, (verb, _) in enumerate(chunk) if verb == "uncordon")
        assert last_drain < first_uncordon, chunk
    assert position == len(calls)
    assert f"annotate node/{NODE_HOSTS[0]} {ANNOTATION}-" in _lines(log)
    for host in NODE_HOSTS:
        report = json.loads((reports / f"{host}.json").read_text())
        assert report["status"] == "pass", report
    # The GPU trays' checks come from the model: GPUs, driver, NVLink fabric, DCGM and the SKU's
    # four InfiniBand ports (skipped here: no hardware); the CPU server has none of them.
    gpu = json.loads((reports / f"{NODE_HOSTS[0]}.json").read_text())
    assert [c["name"] for c in gpu["checks"]] == [
        "files",
        "gpus",
        "driver",
        "nvlink_fabric",
        "dcgm_diag",
        "infiniband",
    ]
    cpu = json.loads((reports / f"{NODE_HOSTS[3]}.json").read_text())
    assert [c["name"] for c in cpu["checks"]] == ["files"]


def test_failed_change_stops_the_rollout_and_leaves_the_node_cordoned_with_the_reason(
    prepared: Path, session_dir: Path, engine: Engine
) -> None:
    kubectl, log = _fake_kubectl(session_dir, "kubectl-fail")
    summary = session_dir / "summary-fail"
    summary.mkdir()
    broken = BATCHES[1][0]
    # A real fault: the containerd configuration directory is a file, so the change fails there.
    engine.exec(broken, "sh", "-c", "rm -rf /etc/containerd && touch /etc/containerd")
    try:
        result = run_playbook(
            "rollout.yml", prepared, extra_vars=_rollout_vars(kubectl, rollout_report_dir=str(summary))
        )
    finally:
        engine.exec(broken, "sh", "-c", "rm -f /etc/containerd && mkdir -p /etc/containerd")
    assert result.rc != 0
    calls = _calls(log)
    for host in BATCHES[0]:
        assert [v for v, n in calls if n == host] == PASSED, calls
    assert [v for v, n in calls if n == broken] == ["cordon", "drain", "annotate"], calls
    annotate = next(line for line in _lines(log) if line.startswith(f"annotate node/{broken} --overwrite"))
    # The reason names the task and, for a loop, what the failed item said.
    assert f"{ANNOTATION}=Create configuration directories: One or more items failed (" in annotate, annotate
    assert "/etc/containerd" in annotate, annotate
    assert not [c for c in calls if c[1] in BATCHES[2]], f"batch after the failure was touched: {calls}"
    failed_hosts = {h for h, s in result.stats.items() if s.get("failures")}
    assert failed_hosts == {broken}
    report = json.loads((summary / "rollout-failed.json").read_text())
    assert list(report["cordoned"]) == [broken]
    assert report["cordoned"][broken].startswith("Create configuration directories:"), report


def test_failed_health_check_keeps_the_node_cordoned(
    prepared: Path, session_dir: Path, engine: Engine
) -> None:
    kubectl, log = _fake_kubectl(session_dir, "kubectl-health")
    broken = BATCHES[0][1]
    # The kubelet package stays installed, so the change passes; the health gate finds no kubelet.
    engine.exec(broken, "mv", "/usr/bin/kubelet", "/usr/bin/kubelet.off")
    try:
        result = run_playbook("rollout.yml", prepared, extra_vars=_rollout_vars(kubectl))
    finally:
        engine.exec(broken, "mv", "/usr/bin/kubelet.off", "/usr/bin/kubelet")
    assert result.rc != 0
    calls = _calls(log)
    # The canary rack failed: its healthy node passes and is uncordoned, the broken one stays
    # cordoned with the reason, and no later rack is touched.
    assert [v for v, n in calls if n == BATCHES[0][0]] == PASSED, calls
    assert [v for v, n in calls if n == broken] == ["cordon", "drain", "wait", "annotate"], calls
    annotate = next(line for line in _lines(log) if line.startswith(f"annotate node/{broken} --overwrite"))
    assert "files failed" in annotate, annotate
    assert {n for _, n in calls} == set(BATCHES[0]), calls


def test_batch_spanning_two_racks_is_refused_before_any_cordon(prepared: Path, session_dir: Path) -> None:
    kubectl, log = _fake_kubectl(session_dir, "kubectl-span")
    result = run_playbook(
        "rollout.yml",
        prepared,
        extra_vars=_rollout_vars(
            kubectl,
            rollout_canary=1,
            rollout_batch=2,
            rollout_batch_by="rack",
            rollout_whole_nvlink_domains=False,
        ),
    )
    assert result.rc != 0
    assert "spans hall-a-r0001, hall-a-r0002" in result.failures()
    # The canary (one node of rack 1) went through; the misaligned batch was never touched.
    assert [n for _, n in _calls(log)] == [NODE_HOSTS[0]] * len(PASSED)


def test_half_an_nvlink_rack_is_refused_before_any_cordon(prepared: Path, session_dir: Path) -> None:
    kubectl, log = _fake_kubectl(session_dir, "kubectl-half")
    result = run_playbook(
        "rollout.yml", prepared, extra_vars=_rollout_vars(kubectl, rollout_canary=1, rollout_batch=1)
    )
    assert result.rc != 0
    assert "hall-a-r0001 is one NVLink domain, but hall-a-r0001-n02" in result.failures()
    assert _calls(log) == []


def test_driver_change_asks_for_a_reboot_and_waits_for_ready(
    prepared: Path, session_dir: Path, engine: Engine
) -> None:
    kubectl, log = _fake_kubectl(session_dir, "kubectl-driver")
    result = run_playbook(
        "rollout.yml", prepared, extra_vars=_rollout_vars(kubectl, nvidia_driver_version="580.999.1")
    )
    assert result.rc == 0, result.failures()
    gpu_hosts = set(NODE_HOSTS[:3])
    assert _ran(result, "Report the reboot a container cannot do") == gpu_hosts
    for host in NODE_HOSTS:
        assert [v for v, n in _calls(log) if n == host] == PASSED, host
    for host in gpu_hosts:
        version = engine.exec(host, "dpkg-query", "-W", "-f=${Version}", "nvidia-open-580").stdout
        assert version == "580.999.1-1", host
