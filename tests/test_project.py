"""The project is the one the user works in, never the folder the package was installed from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gigafactory.errors import ProjectNotFoundError
from gigafactory.project import project_dir
from tests.conftest import REPO

_SKIP = {
    ".venv",
    ".git",
    ".cache",
    "out",
    "build",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
}


def test_project_is_found_by_walking_up_from_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: gigafactory\n")
    deep = tmp_path / "sites" / "nested"
    deep.mkdir(parents=True)
    assert project_dir(deep) == tmp_path.resolve()
    with pytest.raises(ProjectNotFoundError, match=r"no Pulumi\.yaml in"):
        project_dir(Path("/"))


def test_a_non_editable_install_checks_the_copy_it_runs_in(tmp_path: Path) -> None:
    """`check --stack` in a second checkout must check that checkout's files: install the
    package (not editable) apart from both, break a site file in the copy, and the gate
    run in the copy fails while the same gate in the original passes."""
    copy = tmp_path / "checkout"
    shutil.copytree(
        REPO, copy, ignore=lambda _d, names: [n for n in names if n in _SKIP or n == "__pycache__"]
    )
    target = tmp_path / "site-packages"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(copy)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    site_file = copy / "sites" / "kind.yaml"
    data = yaml.safe_load(site_file.read_text())
    # The laptop site plans 2 trays x 4 GPUs = 8 GPUs; contracting 4 breaks gpu-commitment-cap.
    data["commitments"]["gpus"] = 4
    site_file.write_text(yaml.safe_dump(data, sort_keys=False))
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("GIGAFACTORY_PROJECT_DIR", None)
    where = subprocess.run(
        [sys.executable, "-c", "import gigafactory; print(gigafactory.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert where.stdout.startswith(str(target)), "the test runs the installed copy, not the checkout"

    def gate(cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gigafactory", "check", "--stack", "kind", "--format", "json"],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=300,
        )

    broken = gate(copy / "sites")  # from a subfolder: the project is found by walking up
    assert broken.returncode == 1, broken.stderr
    rules = {v["rule"] for v in json.loads(broken.stdout)["violations"] if v["level"] == "mandatory"}
    assert "gpu-commitment-cap" in rules
    assert gate(REPO).returncode == 0
    outside = gate(tmp_path)
    assert outside.returncode == 2 and "no Pulumi.yaml" in outside.stderr, "fails closed outside a project"
