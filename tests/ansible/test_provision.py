"""`gigafactory provision` through ansible-runner against the container nodes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.ansible.conftest import CONTAINER_VARS, NODE_HOSTS, REPO, VENV_BIN, Engine, ansible_env

pytestmark = pytest.mark.containers


def _provision(nodes: Path, artifacts: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(VENV_BIN / "gigafactory"),
            "provision",
            "health.yml",
            str(REPO / "sites" / "narvik.yaml"),
            "--cluster",
            "c1",
            "--inventory",
            str(nodes),
            "--artifacts",
            str(artifacts),
            "--extra-vars",
            json.dumps(CONTAINER_VARS),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=ansible_env(),
        timeout=600,
        cwd=REPO,
    )


def test_provision_runs_a_playbook_and_keeps_artifacts(
    nodes: Path, session_dir: Path, engine: Engine
) -> None:
    artifacts = session_dir / "artifacts-ok"
    # The health checks need the files prepare writes: put them in place on the limited host.
    host = NODE_HOSTS[3]
    engine.exec(
        host,
        "sh",
        "-c",
        "mkdir -p /etc/sysctl.d /etc/containerd && touch /etc/sysctl.d/90-gigafactory.conf "
        "/etc/default/kubelet /etc/containerd/config.toml /usr/bin/kubelet /usr/bin/containerd",
    )
    proc = _provision(nodes, artifacts, "--limit", host, "--check", "--diff")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert host in proc.stdout and NODE_HOSTS[0] not in proc.stdout
    runs = list(artifacts.iterdir())
    assert len(runs) == 1
    assert (runs[0] / "job_events").is_dir() and any((runs[0] / "job_events").iterdir())
    assert (runs[0] / "stdout").is_file()
    command = json.loads((runs[0] / "command").read_text())["command"]
    assert "--check" in command and "--diff" in command and host in command


def test_provision_exits_non_zero_when_a_host_fails(nodes: Path, session_dir: Path, engine: Engine) -> None:
    host = NODE_HOSTS[3]
    engine.exec(host, "rm", "-f", "/etc/default/kubelet.provision-test")
    proc = _provision(
        nodes,
        session_dir / "artifacts-fail",
        "--limit",
        host,
        "--extra-vars",
        json.dumps({**CONTAINER_VARS, "health_required_files": ["/etc/default/kubelet.provision-test"]}),
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "failed" in proc.stdout
