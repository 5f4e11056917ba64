"""`rollout` semantics on the container nodes: canary first, batches in order, cordon and drain
before the change, uncordon only after the node passed, a failure stops the rollout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ansible.conftest import CONTAINER_VARS, NODE_HOSTS, Engine, run_playbook

pytestmark = pytest.mark.containers

# Inventory order: rack 1 slots 1-2, rack 2 slot 1, rack 241 slot 1. Canary of 1, then batches of 2,
# each within one scalable unit (racks 1 and 2 are both in hall-a-su001).
BATCHES = [[NODE_HOSTS[0]], [NODE_HOSTS[1], NODE_HOSTS[2]], [NODE_HOSTS[3]]]


def _fake_kubectl(directory: Path, name: str) -> tuple[Path, Path]:
    log = directory / f"{name}.log"
    script = directory / f"{name}.sh"
    script.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    script.chmod(0o755)
    return script, log


def _calls(log: Path) -> list[tuple[str, str]]:
    """(verb, node) of every recorded kubectl call, in order."""
    return [(line.split()[0], line.split()[1]) for line in log.read_text().splitlines()]


def _rollout_vars(kubectl: Path, **overrides: Any) -> dict[str, Any]:
    """Container variables plus a canary of one and batches of two, grouped by scalable unit."""
    return {
        **CONTAINER_VARS,
        "rollout_kubectl": str(kubectl),
        "rollout_canary": 1,
        "rollout_batch": 2,
        "rollout_batch_by": "su",
        **overrides,
    }


def test_rollout_goes_batch_by_batch_and_uncordons_after_passing(
    nodes: Path, session_dir: Path, engine: Engine
) -> None:
    kubectl, log = _fake_kubectl(session_dir, "kubectl-ok")
    reports = session_dir / "reports-ok"
    reports.mkdir()
    result = run_playbook(
        "rollout.yml",
        nodes,
        extra_vars=_rollout_vars(kubectl, health_report_dir=str(reports)),
    )
    assert result.rc == 0, result.failures()
    calls = _calls(log)
    position = 0
    for batch in BATCHES:
        # All of a batch's calls come before the next batch's, cordon and drain before uncordon.
        chunk = calls[position : position + 3 * len(batch)]
        position += 3 * len(batch)
        for host in batch:
            verbs = [verb for verb, node in chunk if node == host]
            assert verbs == ["cordon", "drain", "uncordon"], (host, calls)
        last_drain = max(i for i, (verb, _) in enumerate(chunk) if verb == "drain")
        first_uncordon = min(i for i, (verb, _) in enumerate(chunk) if verb == "uncordon")
        assert last_drain < first_uncordon, chunk
    assert position == len(calls)
    for host in NODE_HOSTS:
        assert (reports / f"{host}.json").is_file(), host
    assert '"status": "pass"' in engine.read(NODE_HOSTS[0], "/var/lib/gigafactory/health.json")


def test_failed_batch_stops_the_rollout_and_keeps_its_node_cordoned(
    nodes: Path, session_dir: Path, engine: Engine
) -> None:
    kubectl, log = _fake_kubectl(session_dir, "kubectl-fail")
    broken = BATCHES[1][0]
    # A real fault: the containerd configuration directory is a file, so the change fails there.
    engine.exec(broken, "sh", "-c", "rm -rf /etc/containerd && touch /etc/containerd")
    try:
        result = run_playbook(
            "rollout.yml",
            nodes,
            extra_vars=_rollout_vars(kubectl, rollout_max_fail_percentage=0),
        )
    finally:
        engine.exec(broken, "sh", "-c", "rm -f /etc/containerd && mkdir -p /etc/containerd")
    assert result.rc != 0
    calls = _calls(log)
    assert [v for v, n in calls if n == BATCHES[0][0]] == ["cordon", "drain", "uncordon"]
    assert [v for v, n in calls if n == broken] == ["cordon", "drain"], calls
    assert not [c for c in calls if c[1] in BATCHES[2]], f"batch after the failure was touched: {calls}"
    failed_hosts = {h for h, s in result.stats.items() if s.get("failures")}
    assert failed_hosts == {broken}


def test_batch_spanning_two_racks_is_refused_before_any_cordon(nodes: Path, session_dir: Path) -> None:
    kubectl, log = _fake_kubectl(session_dir, "kubectl-span")
    result = run_playbook(
        "rollout.yml",
        nodes,
        extra_vars=_rollout_vars(kubectl, rollout_batch_by="rack"),
    )
    assert result.rc != 0
    assert "spans hall-a-r0001, hall-a-r0002" in result.failures()
    # The canary (one node of rack 1) went through; the misaligned batch was never touched.
    assert [n for _, n in _calls(log)] == [NODE_HOSTS[0]] * 3
