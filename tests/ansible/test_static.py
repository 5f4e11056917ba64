"""Checks that need no container: lint, syntax of every entry playbook, argument specs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ansible.conftest import PLAYBOOKS, PROJECT, REPO, VENV_BIN, ansible_env

ENTRY_PLAYBOOKS = sorted(p.name for p in PROJECT.glob("*.yml"))
ROLES = sorted(p.name for p in (PROJECT / "roles").iterdir() if p.is_dir())


def test_ansible_lint_production_profile_passes() -> None:
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-lint"), "--format=pep8", "--nocolor", "playbooks/"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=ansible_env(),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Profile 'production' was required, and it passed" in proc.stderr + proc.stdout


@pytest.mark.parametrize("playbook", ENTRY_PLAYBOOKS)
def test_playbook_syntax(playbook: str) -> None:
    proc = subprocess.run(
        [
            str(VENV_BIN / "ansible-playbook"),
            "--syntax-check",
            "-i",
            str(PLAYBOOKS / "inventory" / "kind.gigafactory_site.yml"),
            str(PROJECT / playbook),
        ],
        capture_output=True,
        text=True,
        env=ansible_env(),
        timeout=300,
        cwd=PROJECT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_role_has_an_interface() -> None:
    assert {
        "os_baseline",
        "nvidia_driver",
        "container_runtime",
        "infiniband",
        "nvme_cache",
        "kubelet",
    } <= set(ROLES)
    for role in ROLES:
        assert (PROJECT / "roles" / role / "defaults" / "main.yml").is_file(), role
        assert (PROJECT / "roles" / role / "meta" / "argument_specs.yml").is_file(), role


def _run_role_locally(role: str, role_vars: dict[str, object]) -> subprocess.CompletedProcess[str]:
    """Run one role against the controller with the argument spec in force (before any task)."""
    play = [
        {
            "name": "argument spec",
            "hosts": "localhost",
            "gather_facts": False,
            "roles": [{"role": role, "vars": role_vars}],
        }
    ]
    path = PROJECT / f".argspec-{role}.yml"
    path.write_text(json.dumps(play))
    try:
        return subprocess.run(
            [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path)],
            capture_output=True,
            text=True,
            env=ansible_env(),
            timeout=300,
            cwd=PROJECT,
        )
    finally:
        path.unlink()


def test_bad_variable_type_fails_argument_spec_validation() -> None:
    proc = _run_role_locally("nvme_cache", {"nvme_cache_fstype": "btrfs", "nvme_cache_chunk_kib": "lots"})
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "Validation of arguments failed" in out or "argument spec" in out.lower(), out
    assert "nvme_cache_fstype" in out and "nvme_cache_chunk_kib" in out, out


def test_missing_version_pin_fails_argument_spec_validation() -> None:
    # Outside the project's group_vars the kubelet role has no version: it must refuse to run.
    proc = _run_role_locally("kubelet", {"kubelet_node_taints": [{"key": "a", "effect": "Sometimes"}]})
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "kubelet_version" in out, out


def _validate_on_controller(tmp: Path, host_vars: dict[str, object]) -> subprocess.CompletedProcess[str]:
    """Run the validation play against the controller itself (a Debian 12 machine) as one host."""
    inventory = tmp / "inventory.yml"
    inventory.write_text(
        json.dumps(
            {
                "all": {
                    "children": {
                        "rack_lab_r0002": {
                            "hosts": {
                                "node": {
                                    "ansible_connection": "local",
                                    "ansible_python_interpreter": sys.executable,
                                    **host_vars,
                                }
                            }
                        }
                    }
                }
            }
        )
    )
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(PROJECT / "validate.yml")],
        capture_output=True,
        text=True,
        env=ansible_env(),
        timeout=300,
        cwd=PROJECT,
    )


def _kind_host_vars() -> dict[str, object]:
    from gigafactory.baremetal.inventory import build
    from gigafactory.site import load_site

    return dict(build(load_site(REPO / "sites" / "kind.yaml")).merged_hostvars()["lab-r0002-n01"])


def test_validation_passes_a_site_host(tmp_path: Path) -> None:
    proc = _validate_on_controller(tmp_path, _kind_host_vars())
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_validation_stops_a_host_without_site_variables(tmp_path: Path) -> None:
    hv = _kind_host_vars()
    del hv["gigafactory_node_labels"]
    proc = _validate_on_controller(tmp_path, hv)
    assert proc.returncode != 0
    assert "lacks host variables gigafactory_node_labels" in proc.stdout


def test_validation_stops_a_gpu_pool_host_without_gpus(tmp_path: Path) -> None:
    proc = _validate_on_controller(tmp_path, {**_kind_host_vars(), "gigafactory_gpus": 0})
    assert proc.returncode != 0
    assert "variables disagree" in proc.stdout
