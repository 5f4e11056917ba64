"""What the engine driver decides before and around the Pulumi CLI, without a toolchain: the
config the policy pack reads, the progress lines and findings taken from the engine's event
stream, and exit code 2 when the toolchain or the simulator is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pulumi.automation import EngineEvent

from gigafactory.stack.config import from_strings, load_stack_config
from gigafactory.stack.engine import Outcome, PolicyFinding, _Progress, pulumi_config
from tests.conftest import REPO

URN = "urn:pulumi:sim::gigafactory::gigafactory:cluster:GpuCluster$kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue::laptop-dev-pool-gpu-queue"
QUEUE_TYPE = "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue"


def test_stack_config_reaches_the_pack_as_the_engines_strings() -> None:
    settings = load_stack_config("sim")
    config = pulumi_config(settings)
    assert config["gigafactory:site"] == "sites/kind.yaml"
    assert json.loads(config["gigafactory:provided"]) == ["cni", "kueue", "gpu", "observability"]
    assert config["gigafactory:keepTenantNamespaces"] == "false"
    again = from_strings("sim", config.get, REPO)
    assert (again.site, again.cluster, again.platform, again.provided) == (
        settings.site,
        settings.cluster,
        settings.platform,
        settings.provided,
    )


def _event(**data: Any) -> EngineEvent:
    return EngineEvent.from_json(data)


def _meta(op: str) -> dict[str, Any]:
    return {"metadata": {"op": op, "urn": URN, "type": QUEUE_TYPE, "provider": ""}}


def test_progress_is_one_line_per_resource_with_its_operation() -> None:
    lines: list[str] = []
    outcome = Outcome(action="up", stack="sim", ok=False, seconds=0.0)
    progress = _Progress(lines.append, outcome)
    progress(_event(resourcePreEvent=_meta("create")))
    progress(_event(resOutputsEvent=_meta("create")))
    progress(_event(resOutputsEvent=_meta("create")))  # the engine may repeat; one line each
    progress(_event(summaryEvent={"resourceChanges": {"create": 9, "same": 2}}))
    assert len(lines) == 1, lines
    assert lines[0].split()[:4] == ["+", "create", "kueue.x-k8s.io/ClusterQueue", "laptop-dev-pool-gpu-queue"]
    assert outcome.changes == {"create": 9, "same": 2}
    assert outcome.changed == 9


def test_mandatory_policy_event_fails_the_run_and_names_the_rule() -> None:
    lines: list[str] = []
    outcome = Outcome(action="preview", stack="sim", ok=True, seconds=0.0)
    progress = _Progress(lines.append, outcome)
    progress(
        _event(
            policyEvent={
                "message": "The grid's carbon intensity stays below the limit.\ngrid/DE: grid zone DE averages 342 g CO2eq/kWh\n",
                "policyName": "region-grid-carbon-max",
                "policyPackName": "gigafactory",
                "enforcementLevel": "mandatory",
            }
        )
    )
    (failure,) = outcome.policy_failures
    assert failure.policy == "region-grid-carbon-max" and failure.resource is None
    assert lines == [
        "  policy mandatory: region-grid-carbon-max: grid/DE: grid zone DE averages 342 g CO2eq/kWh"
    ]


def test_an_advisory_that_could_not_run_fails_like_a_mandatory_one() -> None:
    skipped = PolicyFinding(
        "image-tag-pinned", "advisory", "can't run policy 'image-tag-pinned' during preview", None
    )
    advice = PolicyFinding("whole-scalable-units", "advisory", "2 nodes are 0.01 scalable units", None)
    assert skipped.fails and not advice.fails


def test_error_diagnostics_are_collected_one_line_each() -> None:
    lines: list[str] = []
    outcome = Outcome(action="up", stack="sim", ok=False, seconds=0.0)
    _Progress(lines.append, outcome)(
        _event(
            diagnosticEvent={
                "message": "resource failed:\n  no matches for kind\n",
                "severity": "error",
                "urn": URN,
            }
        )
    )
    assert outcome.errors == ["laptop-dev-pool-gpu-queue: resource failed: no matches for kind"]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from gigafactory.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def test_missing_toolchain_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "GIGAFACTORY_TOOLCHAIN_BIN": str(tmp_path / "nothing-here")}
    proc = _cli(env, "up", "--stack", "kind", "--yes")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("gigafactory: error: toolchain binary 'pulumi' is missing"), proc.stderr
    assert "Traceback" not in proc.stderr


def test_sim_stack_without_a_running_simulator_says_how_to_start_it(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("pulumi", "pulumi-resource-kubernetes"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 1\n")
        (bin_dir / name).chmod(0o755)
    env = {
        **os.environ,
        "GIGAFACTORY_TOOLCHAIN_BIN": str(bin_dir),
        "GIGAFACTORY_SIM_DIR": str(tmp_path / "sim"),
        "GIGAFACTORY_STATE_DIR": str(tmp_path / "state"),
    }
    proc = _cli(env, "preview", "--stack", "sim")
    assert proc.returncode == 2, proc.stderr
    assert "run `gigafactory sim up --stack sim` first" in proc.stderr
    assert "left to the environment: cni, observability, kueue, gpu" in proc.stdout


def test_unknown_stack_is_exit_2() -> None:
    proc = _cli(dict(os.environ), "destroy", "--stack", "nope", "--yes")
    assert proc.returncode == 2
    assert "stack 'nope': no file stacks/Pulumi.nope.yaml" in proc.stderr
