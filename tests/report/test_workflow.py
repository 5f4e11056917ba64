"""The pull-request workflow's diff job: its script, run for real on a throwaway repository,
writes the Markdown comment and fails on an added mandatory violation."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import KIND, NARVIK, REPO

WORKFLOW = REPO / ".github" / "workflows" / "policy.yml"
MARKER = "<!-- gigafactory-site-diff -->"


def _job() -> dict[str, Any]:
    job: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["diff"]
    return job


def _step(step_id: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [s for s in _job()["steps"] if s.get("id") == step_id]
    assert len(steps) == 1, step_id
    return steps[0]


def test_diff_job_may_comment_and_posts_the_markdown() -> None:
    job = _job()
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    checkout = job["steps"][0]
    assert checkout["uses"] == "actions/checkout@v4" and checkout["with"]["fetch-depth"] == 0
    runs = "\n".join(str(s.get("run", "")) for s in job["steps"])
    assert "gigafactory diff" in runs and "--format markdown" in runs
    assert "gh pr comment" in runs and MARKER in runs


def _git(repo: Path, *args: str) -> str:
    cmd = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def test_diff_step_writes_the_comment_and_fails_on_a_new_mandatory_violation(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "sites").mkdir(parents=True)
    (repo / ".venv").symlink_to(REPO / ".venv")
    narvik = repo / "sites" / "narvik.yaml"
    narvik.write_text(NARVIK.read_text(encoding="utf-8"), encoding="utf-8")
    _git(repo, "init", "-q")
    _git(repo, "add", "sites/narvik.yaml")
    _git(repo, "commit", "-qm", "base")
    base = _git(repo, "rev-parse", "HEAD")
    # the pull request raises the PUE past the envelope and adds a site file
    narvik.write_text(narvik.read_text(encoding="utf-8").replace("design_pue: 1.10", "design_pue: 1.15"))
    (repo / "sites" / "laptop.yaml").write_text(KIND.read_text(encoding="utf-8"), encoding="utf-8")
    temp, summary, output = tmp_path / "runner", tmp_path / "summary.md", tmp_path / "output"
    temp.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "BASE": base,
        "RUNNER_TEMP": str(temp),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
    }
    # GitHub runs `run:` scripts with bash -e -o pipefail
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", _step("diff")["run"]],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr  # the step records the status; a later step fails
    comment = (temp / "site-diff.md").read_text(encoding="utf-8")
    assert comment.startswith(MARKER)
    assert f"### Site diff: `{base}:sites/narvik.yaml` → `sites/narvik.yaml`" in comment
    # 208.176 MW x 1.15 = 239.402 MW facility (was 228.994): +10.408 MW
    assert "| facility power (MW) | 228.994 | 239.402 | +10.408 |" in comment
    assert "`site-power-envelope`" in comment
    assert "`sites/laptop.yaml`: new file" in comment
    assert summary.read_text(encoding="utf-8") == comment
    assert output.read_text(encoding="utf-8") == "status=1\n"
