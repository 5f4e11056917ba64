"""Stack configuration: checked against the keys Pulumi.yaml declares, errors exit 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gigafactory.errors import StackConfigError
from gigafactory.stack.config import declared_keys, load_stack_config
from tests.conftest import REPO


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's declarations, sites and stacks to break."""
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, tmp_path / name)
    for folder in ("sites", "stacks"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    return tmp_path


def _cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gigafactory", "--project-dir", str(project), *args],
        capture_output=True,
        text=True,
        cwd=project,
        timeout=120,
    )


def test_defaults_come_from_pulumi_yaml_only() -> None:
    declared = declared_keys(REPO)
    config = load_stack_config("kind", REPO)
    # Pulumi.yaml declares hostDrivers default true and ibSubnet default 100.64.0.0/16; the kind stack sets neither.
    assert declared["hostDrivers"].default is True and config.host_drivers is True
    assert declared["ibSubnet"].default == "100.64.0.0/16" and config.ib_subnet == "100.64.0.0/16"
    assert declared["site"].required and declared["cluster"].required


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "config:\n  gigafactory:site: sites/kind.yaml\n  gigafactory:cluster: dev\n  gigafactory:hostDriver: true\n",
            "unknown config key gigafactory:hostDriver; allowed: gigafactory:site",
        ),
        (
            "config:\n  gigafactory:site: sites/kind.yaml\n  gigafactory:cluster: dev\n  gigafactory:hostDrivers: 'yes'\n",
            "gigafactory:hostDrivers: 'yes' is not allowed; allowed: a boolean",
        ),
        (
            "config:\n  gigafactory:site: sites/kind.yaml\n  gigafactory:cluster: dev\n  gigafactory:apiServerCidrs: 10.0.0.0/8\n",
            "gigafactory:apiServerCidrs: '10.0.0.0/8' is not allowed; allowed: a list of strings",
        ),
        (
            "config:\n  gigafactory:site: sites/kind.yaml\n  gigafactory:cluster: dev\n  gigafactory:cluster: c1\n",
            "duplicate key 'gigafactory:cluster' (line 4)",
        ),
        ("config:\n  gigafactory:site: sites/kind.yaml\n", "config key gigafactory:cluster is missing"),
    ],
    ids=["unknown-key", "wrong-type", "array-type", "duplicate-key", "missing-key"],
)
def test_bad_stack_config_is_one_line_and_exit_2(project: Path, text: str, expected: str) -> None:
    (project / "stacks" / "Pulumi.kind.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(StackConfigError, match=None) as info:
        load_stack_config("kind", project)
    assert expected in str(info.value)
    proc = _cli(project, "kind-config", "--stack", "kind")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and expected in proc.stderr
    assert "Pulumi.kind.yaml" in proc.stderr, "the error names the file"


def test_non_utf8_stack_file_is_exit_2(project: Path) -> None:
    (project / "stacks" / "Pulumi.kind.yaml").write_bytes(b"config:\n  gigafactory:site: \xff\xfe\n")
    proc = _cli(project, "kind-config", "--stack", "kind")
    assert proc.returncode == 2 and "is not UTF-8" in proc.stderr


def test_project_dir_without_pulumi_yaml_is_exit_2(tmp_path: Path) -> None:
    proc = _cli(tmp_path, "kind-config", "--stack", "kind")
    assert proc.returncode == 2 and "no Pulumi.yaml there" in proc.stderr


def test_quoted_booleans_that_pulumi_writes_read_as_booleans(project: Path) -> None:
    """`pulumi stack init` rewrites a stack file's `false` as "false"; both mean the same."""
    text = "config:\n  gigafactory:site: sites/kind.yaml\n  gigafactory:cluster: dev\n  gigafactory:hostDrivers: 'false'\n"
    (project / "stacks" / "Pulumi.kind.yaml").write_text(text, encoding="utf-8")
    assert load_stack_config("kind", project).host_drivers is False
