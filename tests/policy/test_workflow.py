"""The pull-request gate: the workflow runs the offline check and the preview script, and the
preview script fails on a mandatory violation and on any "can't run policy" message.

The Pulumi CLI is not available here: a stand-in `pulumi` on PATH prints what the real one
prints in each case and exits with its exit code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "policy.yml"
PREVIEW = REPO / "policy" / "preview.sh"

CANT_RUN = (
    "    advisory: can't run policy 'image-tag-pinned' from policy pack 'gigafactory@v0.1.0' during preview: "
    "string value at .values.image can't be known during preview"
)
MANDATORY = "    [mandatory]  helm-chart-version-pinned  (kubernetes:helm.sh/v3:Release: kueue)"


def _steps(job: str) -> list[str]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    return [str(step.get("run", "")) for step in doc["jobs"][job]["steps"]]


def test_workflow_runs_on_every_pull_request() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    # PyYAML reads the bare key `on` as True
    assert "pull_request" in doc[True]


def test_offline_job_checks_every_stack_and_the_generated_files() -> None:
    runs = "\n".join(_steps("offline"))
    assert "gigafactory check --all-stacks" in runs
    assert "scripts/policy_docs.py --check" in runs


def test_preview_job_runs_the_pack_through_the_gate_script() -> None:
    runs = "\n".join(_steps("preview"))
    assert "policy/preview.sh kind" in runs


def _fake_pulumi(tmp_path: Path, preview_output: str, preview_rc: int) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    script = bin_dir / "pulumi"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {log}\n'
        f'echo "$PULUMI_CONFIG" > {tmp_path / "pulumi_config"}\n'
        'case "$1" in\n'
        f"  preview) cat <<'OUT'\n{preview_output}\nOUT\n    exit {preview_rc};;\n"
        "esac\n"
        "exit 0\n"
    )
    script.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.pop("PULUMI_BACKEND_URL", None)
    return env


def _preview(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(PREVIEW), "kind"], env=env, capture_output=True, text=True, check=False
    )


needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


@needs_bash
def test_preview_gate_passes_a_clean_preview(tmp_path: Path) -> None:
    res = _preview(_fake_pulumi(tmp_path, "Resources:\n    + 24 to create", 0))
    assert res.returncode == 0, res.stderr
    calls = (tmp_path / "calls").read_text()
    assert "stack select --create --non-interactive kind" in calls
    # The executable analyzer, as the engine runs the pack, with the stack's config in its env.
    assert "--policy-pack policy/analyzer --policy-pack-config policy/policy-config.json" in calls
    config = json.loads((tmp_path / "pulumi_config").read_text())
    assert (config["gigafactory:site"], config["gigafactory:cluster"]) == ("sites/kind.yaml", "dev")


@needs_bash
def test_preview_gate_fails_on_a_mandatory_violation(tmp_path: Path) -> None:
    res = _preview(_fake_pulumi(tmp_path, MANDATORY, 255))
    assert res.returncode == 255


@needs_bash
def test_preview_gate_fails_on_cant_run_policy_even_when_pulumi_passes(tmp_path: Path) -> None:
    res = _preview(_fake_pulumi(tmp_path, CANT_RUN, 0))
    assert res.returncode == 1
    assert "could not run during preview" in res.stderr


SYSTEM_PATH = "/usr/bin:/bin"


@needs_bash
@pytest.mark.skipif(shutil.which("pulumi", path=SYSTEM_PATH) is not None, reason="a Pulumi CLI is installed")
def test_preview_gate_without_the_cli_says_so() -> None:
    res = subprocess.run(
        ["bash", str(PREVIEW), "kind"],
        env={**os.environ, "PATH": SYSTEM_PATH},
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 3
    assert "gigafactory check --stack kind" in res.stderr
