"""`gigafactory provision` refuses bad input with exit 2 before any play runs or any run folder
exists, keeps the caller's environment and secret variables out of its artifacts, keeps run
folders private and prunes old ones. No containers: the validation play runs on the controller."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gigafactory.baremetal.inventory import build
from gigafactory.baremetal.provision import (
    EXTRA_VARS_MAX_BYTES,
    ProvisionError,
    load_extra_vars,
    prune_runs,
    select_hosts,
    split_secret_vars,
)
from gigafactory.cli import app
from gigafactory.site import load_site
from tests.ansible.conftest import PLAYBOOKS, VENV_BIN, ansible_env
from tests.conftest import KIND, REPO

runner = CliRunner()

KIND_HOSTS = {"dev-cp1", "lab-r0001-n01", "lab-r0002-n01", "lab-r0002-n02"}


def _provision(artifacts: Path, *args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["provision", "validate.yml", str(KIND), "--artifacts", str(artifacts), *args])
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return res.exit_code, res.stderr


def _refused(artifacts: Path, *args: str) -> str:
    """Exit 2, one line naming the problem, and no artifacts folder made."""
    code, err = _provision(artifacts, *args)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("gigafactory: error: "), err
    assert "Traceback" not in err
    assert not artifacts.exists(), f"{artifacts} was created for a run that cannot start"
    return err


# ---------------------------------------------------------------------------------------
# --extra-vars
# ---------------------------------------------------------------------------------------

BAD_EXTRA_VARS_TEXT = {
    "not JSON": "{oops",
    "truncated": '{"a": ',
    "a list": "[1, 2]",
    "a string": '"text"',
    "a number": "3",
    "null": "null",
    "empty": " ",
    "NaN": '{"a": NaN}',
    "infinity": '{"a": Infinity}',
    "negative infinity": '{"a": -Infinity}',
    "duplicate key": '{"a": 1, "a": 2}',
    "key starts with a digit": '{"1a": 1}',
    "key with a dash": '{"a-b": 1}',
    "key with a space": '{"a b": 1}',
    "empty key": '{"": 1}',
    "key with a newline": '{"a\\n": 1}',
    "key with jinja": "{\"{{ lookup('env', 'HOME') }}\": 1}",
    "deep nesting": "[" * 100_000 + "]" * 100_000,
    "deep object nesting": '{"a": ' * 50_000 + "1" + "}" * 50_000,
    "too large": '{"a": "' + "x" * (EXTRA_VARS_MAX_BYTES + 1) + '"}',
}


@pytest.mark.parametrize("text", BAD_EXTRA_VARS_TEXT.values(), ids=BAD_EXTRA_VARS_TEXT.keys())
def test_malformed_extra_vars_exit_2_before_a_run_folder(text: str, tmp_path: Path) -> None:
    err = _refused(tmp_path / "arts", "-e", text)
    assert "--extra-vars" in err


@pytest.mark.parametrize("text", BAD_EXTRA_VARS_TEXT.values(), ids=BAD_EXTRA_VARS_TEXT.keys())
def test_malformed_extra_vars_files_exit_2(text: str, tmp_path: Path) -> None:
    path = tmp_path / "vars.json"
    path.write_text(text, encoding="utf-8")
    err = _refused(tmp_path / "arts", "-e", f"@{path}")
    assert str(path) in err


def test_unreadable_extra_vars_files_exit_2(tmp_path: Path) -> None:
    """Missing, a folder, a FIFO (would block), a device, not UTF-8, no permission."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    latin = tmp_path / "latin1.json"
    latin.write_bytes(b'{"a": "\xe9"}')
    locked = tmp_path / "locked.json"
    locked.write_text("{}")
    locked.chmod(0)
    cases = [tmp_path / "missing.json", tmp_path, fifo, Path("/dev/zero"), latin]
    if os.geteuid() != 0:  # root reads a file whatever its mode
        cases.append(locked)
    for path in cases:
        err = _refused(tmp_path / "arts", "-e", f"@{path}")
        assert str(path) in err


def test_good_extra_vars_load_and_secret_names_split() -> None:
    data = load_extra_vars('{"a": 1, "bmc_password": "p", "GH_TOKEN": "t", "nested": {"x": [1]}}')
    plain, secret = split_secret_vars(data)
    assert plain == {"a": 1, "nested": {"x": [1]}}
    assert secret == {"bmc_password": "p", "GH_TOKEN": "t"}


def test_extra_vars_errors_never_echo_a_huge_value() -> None:
    with pytest.raises(ProvisionError) as exc:
        load_extra_vars('{"' + "k-" * 10_000 + '": 1}')
    assert len(str(exc.value)) < 300


# ---------------------------------------------------------------------------------------
# Inventory, cluster, --limit, ansible-playbook
# ---------------------------------------------------------------------------------------


def test_unknown_cluster_exits_2_naming_the_clusters(tmp_path: Path) -> None:
    err = _refused(tmp_path / "arts", "--cluster", "nope")
    assert "'nope'" in err and "dev" in err


@pytest.mark.parametrize(
    "limit",
    [
        "nohost",
        "lab-r9999-*",
        "~^zzz",
        "all:!all",
        "cluster_dev:&nohost",
        "dev-cp1:&lab-*",
        " ",
        ",",
        "!dev-cp1:!lab-*",
    ],
)
def test_limit_matching_no_host_exits_2(limit: str, tmp_path: Path) -> None:
    err = _refused(tmp_path / "arts", "--limit", limit)
    assert "--limit" in err


def test_limit_with_a_bad_regex_or_file_exits_2(tmp_path: Path) -> None:
    for limit in ("~[", f"@{tmp_path}/missing.txt"):
        _refused(tmp_path / "arts", "--limit", limit)


def test_missing_site_file_and_broken_site_exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("site: [\n")
    for site in (tmp_path / "missing.yaml", broken, tmp_path):
        res = runner.invoke(app, ["provision", "validate.yml", str(site), "--artifacts", str(tmp_path / "a")])
        assert res.exit_code == 2, res.output
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert not (tmp_path / "a").exists()


def test_missing_ansible_playbook_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(sys, "executable", str(empty / "python"))
    err = _refused(tmp_path / "arts")
    assert "ansible-playbook" in err


def test_unparseable_explicit_inventory_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "nodes.yml"
    broken.write_text("all:\n  hosts: [\n")
    err = _refused(tmp_path / "arts", "--inventory", str(broken))
    assert str(broken) in err


def test_limit_outside_an_explicit_inventory_exits_2(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.yml"
    nodes.write_text("all:\n  hosts:\n    node-a:\n")
    err = _refused(tmp_path / "arts", "--inventory", str(nodes), "--limit", "node-b")
    assert "node-b" in err


def test_site_plugin_that_fails_to_parse_is_an_error_for_ansible_itself(tmp_path: Path) -> None:
    """ansible.cfg sets unparsed_is_failed: direct ansible-inventory calls fail too."""
    config = tmp_path / "x.gigafactory_site.yml"
    config.write_text(f"plugin: gigafactory_site\nsite: {KIND}\ncluster: nope\n")
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-inventory"), "-i", str(config), "--list"],
        capture_output=True,
        text=True,
        env=ansible_env(),
        cwd=PLAYBOOKS,
        timeout=300,
    )
    assert proc.returncode != 0, proc.stdout[:500]
    assert "nope" in proc.stderr


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ("dev-cp1", {"dev-cp1"}),
        ("lab-*", KIND_HOSTS - {"dev-cp1"}),
        ("~^lab-r0002", {"lab-r0002-n01", "lab-r0002-n02"}),
        ("all:!lab-*", {"dev-cp1"}),
        ("all,!lab-*", {"dev-cp1"}),
        ("cluster_dev", KIND_HOSTS),
        ("kube_control_plane", {"dev-cp1"}),
        ("cluster_dev:&kube_control_plane", {"dev-cp1"}),
        ("lab-r0001-n01,dev-cp1", {"lab-r0001-n01", "dev-cp1"}),
        ("*", KIND_HOSTS),
    ],
)
def test_limit_selects_hosts_as_ansible_does(limit: str, expected: set[str]) -> None:
    assert select_hosts(build(load_site(KIND)), limit) == expected


# ---------------------------------------------------------------------------------------
# Artifacts: no secrets, private, pruned
# ---------------------------------------------------------------------------------------

FAKE_TOKEN = "ghp_gigafactoryFAKEtoken0123456789"
FAKE_PASSWORD = "bmc-FAKE-password-4711"


def test_a_run_leaves_no_environment_or_secret_variable_in_any_file(tmp_path: Path) -> None:
    artifacts = tmp_path / "arts"
    env = {**ansible_env(), "GH_TOKEN": FAKE_TOKEN, "AWS_SECRET_ACCESS_KEY": FAKE_TOKEN}
    proc = subprocess.run(
        [
            str(VENV_BIN / "gigafactory"),
            "provision",
            "validate.yml",
            str(KIND),
            "--limit",
            "dev-cp1",
            "--artifacts",
            str(artifacts),
            "-e",
            json.dumps({"bmc_password": FAKE_PASSWORD, "plain_value": "visible-4712"}),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    runs = list(artifacts.iterdir())
    assert len(runs) == 1, runs
    files = [p for p in runs[0].rglob("*") if p.is_file()]
    assert any(p.name == "command" for p in files) and any(p.parent.name == "job_events" for p in files)
    for path in files:
        data = path.read_bytes()
        assert FAKE_TOKEN.encode() not in data, f"{path} holds the caller's token"
        assert FAKE_PASSWORD.encode() not in data, f"{path} holds a secret extra variable"
    assert "visible-4712" in (runs[0] / "runner" / "env" / "extravars").read_text()
    command = json.loads((runs[0] / "command").read_text())
    assert "GH_TOKEN" not in command["env"] and "AWS_SECRET_ACCESS_KEY" not in command["env"]
    secret_file = next(a for a in command["command"] if "gigafactory-secret-" in a).lstrip("@")
    assert not Path(secret_file).exists(), "the secret variables file outlived the run"
    for path in [artifacts, *runs[0].rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path} has mode {mode:o}"


def test_prune_keeps_the_newest_runs_and_nothing_else_is_touched(tmp_path: Path) -> None:
    runs = [f"20260101T0000{i:02d}000000Z" for i in range(5)]
    for name in runs:
        (tmp_path / name).mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "20260101T000000000000Z.txt").write_text("mine")
    deleted = prune_runs(tmp_path, keep=2)
    assert sorted(p.name for p in deleted) == runs[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*runs[3:], "notes", "20260101T000000000000Z.txt"]
    )
    with pytest.raises(ProvisionError):
        prune_runs(tmp_path, keep=0)


def test_keep_runs_must_be_positive(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["provision", "validate.yml", str(KIND), "--artifacts", str(tmp_path / "a"), "--keep-runs", "0"]
    )
    assert res.exit_code == 2
    assert not (tmp_path / "a").exists()
