"""`gigafactory provision` progress and argument handling, without running Ansible."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from gigafactory.baremetal.provision import Progress
from gigafactory.cli import app
from tests.conftest import KIND

runner = CliRunner()


def test_progress_counts_runner_events() -> None:
    """Events shaped as ansible-runner emits them (event name plus event_data)."""
    p = Progress()
    events: list[dict[str, Any]] = [
        {"event": "playbook_on_start", "event_data": {}},
        {"event": "playbook_on_task_start", "event_data": {"task": "Write kernel parameters"}},
        {"event": "runner_on_ok", "event_data": {"host": "n1", "res": {"changed": True}}},
        {"event": "runner_on_ok", "event_data": {"host": "n2", "res": {"changed": False}}},
        {"event": "runner_on_failed", "event_data": {"host": "n3", "res": {}}},
        {"event": "playbook_on_task_start", "event_data": {"task": "Install the driver"}},
        {"event": "runner_on_unreachable", "event_data": {"host": "n4"}},
        {"event": "runner_on_skipped", "event_data": {"host": "n1"}},
        {"event": "verbose", "stdout": "noise"},
    ]
    for e in events:
        p.record(e)
    assert (p.tasks, p.task) == (2, "Install the driver")
    assert dict(p.counts) == {"changed": 1, "ok": 1, "failed": 1, "unreachable": 1, "skipped": 1}


def test_unreadable_extra_vars_file_exits_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["provision", "validate.yml", str(KIND), "-e", f"@{tmp_path}/none.json"])
    assert res.exit_code == 2
    assert "cannot read" in res.stderr
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_extra_vars_must_be_an_object() -> None:
    res = runner.invoke(app, ["provision", "validate.yml", str(KIND), "-e", "[1, 2]"])
    assert res.exit_code == 2
    assert "must be a JSON object" in res.stderr


def test_unknown_playbook_exits_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["provision", "nope.yml", str(KIND), "--artifacts", str(tmp_path)])
    assert res.exit_code == 2
    assert "unknown playbook 'nope.yml'" in res.stderr
