"""`rollout` semantics on the container nodes: whole racks per batch by default (the first rack
is the canary), cordon and drain before the change, a Ready wait and uncordon only after the
node passed, a failure stops the rollout and leaves its node cordoned with the reason; a change of
the kernel, the driver or only the driver's module options asks for a reboot (a container cannot
reboot: the rollout reports the reboot it skips, which these tests read).

The kubectl here is a recording stand-in, so the burn-in (which reads a Job's result from the API
server) is off in these runs; tests/ansible/test_rollout_burnin.py runs it against the
simulator's real API server."""

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
GPU_HOSTS = NODE_HOSTS[:3]
# Seconds a playbook run may take: a prepare of four nodes takes about 12 minutes on a loaded
# 2-core machine, past run_playbook's default of 15 minutes when other test runs share it.
TIMEOUT = 2400
REBOOT_REPORT = "Report the reboot a container cannot do"
MODPROBE = "/etc/modprobe.d/gigafactory-nvidia.conf"
KERNEL = "linux-generic-hwe-24.04"


@pytest.fixture(scope="module")
def prepared(nodes: Path) -> Path:
    """The nodes after prepare.yml (all at once): a rollout changes prepared nodes."""
    first = run_playbook("prepare.yml", nodes, extra_vars=CONTAINER_VARS, timeout=TIMEOUT)
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
    """Container variables, the recording kubectl, no reboot (a container cannot reboot) and no
    burn-in (the recording kubectl has no Job to report)."""
    return {
        **CONTAINER_VARS,
        "rollout_kubectl": str(kubectl),
        "rollout_hardware": False,
        "rollout_burnin_enabled": False,
        **overrides,
    }


def _reboot_reports(result: PlaybookResult) -> dict[str, str]:
    """Host -> the reboot the rollout reported it skipped (hosts that needed none are absent)."""
    return {
        host: str(r.get("msg", ""))
        for name, host, r in result.task_results()
        if name.split(" : ")[-1] == REBOOT_REPORT and not r.get("skipped")
    }


def _skipped_reboot(host: str, what: str) -> str:
    return f"{host}: {what} changed; reboot skipped (rollout_hardware is false)"


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
    # Nothing changed since prepare: no node asks for a reboot (the tests below change one thing).
    assert _reboot_reports(result) == {}
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
    summary = session_dir / "summary-health"
    summary.mkdir()
    broken = BATCHES[0][1]
    # The kubelet package stays installed, so the change passes; the health gate finds no kubelet.
    engine.exec(broken, "mv", "/usr/bin/kubelet", "/usr/bin/kubelet.off")
    try:
        result = run_playbook(
            "rollout.yml", prepared, extra_vars=_rollout_vars(kubectl, rollout_report_dir=str(summary))
        )
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
    # The summary names the failed node and why: the health check that failed.
    report = json.loads((summary / "rollout-failed.json").read_text())
    assert report["cordoned"] == {broken: "Fail when a check failed: files failed"}, report


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


def test_module_option_change_alone_asks_for_a_reboot(
    prepared: Path, session_dir: Path, engine: Engine
) -> None:
    kubectl, log = _fake_kubectl(session_dir, "kubectl-module-options")
    host = GPU_HOSTS[2]  # the one play host of rack 2: one batch, one tray
    before = engine.read(host, MODPROBE)
    # The GB300 trays run the driver-managed coherent memory mode (catalog); the change drops it
    # back to the driver default, the same driver packages stay installed.
    assert "options nvidia NVreg_CoherentGPUMemoryMode=driver" in before, before
    try:
        result = run_playbook(
            "rollout.yml",
            prepared,
            extra_vars=_rollout_vars(kubectl, nvidia_driver_coherent_gpu_memory_mode=""),
            limit=host,
            timeout=TIMEOUT,
        )
        after = engine.read(host, MODPROBE)
    finally:
        engine.exec(host, "sh", "-c", f'printf "%s" "$1" > {MODPROBE}', "sh", before)
    assert result.rc == 0, result.failures()
    assert "NVreg_CoherentGPUMemoryMode" not in after, after
    assert _reboot_reports(result) == {host: _skipped_reboot(host, "driver module options")}
    assert _calls(log) == [(verb, host) for verb in PASSED]


def test_kernel_change_asks_for_a_reboot_on_every_node(
    prepared: Path, session_dir: Path, engine: Engine
) -> None:
    kubectl, log = _fake_kubectl(session_dir, "kubectl-kernel")
    next_kernel = {"x86_64": {"package": KERNEL, "version": "6.17.0-20"}}
    hosts = [GPU_HOSTS[2], NODE_HOSTS[3]]  # a GB300 tray and the CPU server (it has no driver)
    try:
        result = run_playbook(
            "rollout.yml",
            prepared,
            extra_vars=_rollout_vars(kubectl, os_baseline_kernel=next_kernel),
            limit=",".join(hosts),
            timeout=TIMEOUT,
        )
        versions = {h: engine.exec(h, "dpkg-query", "-W", "-f=${Version}", KERNEL).stdout for h in hosts}
    finally:
        for host in hosts:  # back to the pin, for the tests that follow
            engine.exec(
                host,
                "apt-get",
                "install",
                "-y",
                "--allow-downgrades",
                "--allow-change-held-packages",
                f"{KERNEL}=6.17.0-19.19~24.04.1",
            )
    assert result.rc == 0, result.failures()
    assert versions == dict.fromkeys(hosts, "6.17.0-20.20~24.04.1")
    # Both boot the new kernel, the CPU server too: the kernel alone asks for the reboot.
    assert _reboot_reports(result) == {h: _skipped_reboot(h, "kernel") for h in hosts}
    # Two batches (rack 2, then rack 241), each cordoned, waited for and uncordoned.
    assert _calls(log) == [(verb, h) for h in hosts for verb in PASSED]


def test_driver_change_asks_for_a_reboot_and_waits_for_ready(
    prepared: Path, session_dir: Path, engine: Engine
) -> None:
    kubectl, log = _fake_kubectl(session_dir, "kubectl-driver")
    result = run_playbook(
        "rollout.yml", prepared, extra_vars=_rollout_vars(kubectl, nvidia_driver_version="580.999.1")
    )
    assert result.rc == 0, result.failures()
    gpu_hosts = set(GPU_HOSTS)
    assert _reboot_reports(result) == {h: _skipped_reboot(h, "driver") for h in gpu_hosts}
    for host in NODE_HOSTS:
        assert [v for v, n in _calls(log) if n == host] == PASSED, host
    for host in gpu_hosts:
        version = engine.exec(host, "dpkg-query", "-W", "-f=${Version}", "nvidia-open-580").stdout
        assert version == "580.999.1-1", host
