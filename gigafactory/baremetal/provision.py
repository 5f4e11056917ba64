"""Run a playbook of playbooks/project through ansible-runner, for a site and cluster.

The site inventory comes from the repository's inventory plugin (a plugin configuration is
written next to the run's artifacts), so no generated host list sits between the site file
and the run. Artifacts (events, stdout, stats) are kept under ``artifacts_root/<ident>``.
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gigafactory.errors import GigafactoryError
from gigafactory.project import project_dir


def playbooks_dir() -> Path:
    """playbooks/ of the project the user works in (gigafactory.project), never of the installed package."""
    return project_dir() / "playbooks"


PLAYBOOKS = ("validate.yml", "prepare.yml", "rollout.yml", "health.yml")
"""Entry playbooks a user may run."""


class ProvisionError(GigafactoryError):
    """A provisioning run cannot start (unknown playbook, missing inventory, ansible-runner absent)."""


@dataclass
class HostSummary:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0


@dataclass
class ProvisionResult:
    rc: int
    status: str
    artifact_dir: Path
    hosts: dict[str, HostSummary] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.rc != 0 or any(h.failed or h.unreachable for h in self.hosts.values())


@dataclass
class Progress:
    """What the runner events have reported so far (fed to a display)."""

    task: str = ""
    tasks: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    def record(self, event: dict[str, Any]) -> None:
        """Count one ansible-runner event: a task start, or a host's outcome of a task."""
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if kind == "playbook_on_task_start":
            self.task = str(data.get("task", ""))
            self.tasks += 1
        elif kind in _OUTCOMES:
            outcome = _OUTCOMES[kind]
            if outcome == "ok" and (data.get("res") or {}).get("changed"):
                outcome = "changed"
            self.counts[outcome] += 1


EventCallback = Callable[[Progress, dict[str, Any]], None]

_OUTCOMES = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_unreachable": "unreachable",
    "runner_on_skipped": "skipped",
}


def site_inventory_config(site_file: Path, cluster: str | None, directory: Path) -> Path:
    """Write an inventory plugin configuration for the site (and cluster) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "site.gigafactory_site.yml"
    lines = ["plugin: gigafactory_site", f"site: {site_file.resolve()}"]
    if cluster:
        lines.append(f"cluster: {cluster}")
    path.write_text("\n".join(lines) + "\n")
    return path


def run(
    playbook: str,
    *,
    site_file: Path | None = None,
    cluster: str | None = None,
    inventory: Path | None = None,
    limit: str | None = None,
    check: bool = False,
    diff: bool = False,
    extra_vars: dict[str, Any] | None = None,
    artifacts_root: Path = Path("out/provision"),
    on_event: EventCallback | None = None,
) -> ProvisionResult:
    """Run ``playbook`` against the site inventory (or an explicit ``inventory``) and summarise it."""
    if playbook not in PLAYBOOKS:
        raise ProvisionError(f"unknown playbook {playbook!r}; allowed: {', '.join(PLAYBOOKS)}")
    try:
        import ansible_runner
    except ImportError as exc:
        raise ProvisionError(
            f"ansible-runner is not installed (pip install 'gigafactory[ansible]'): {exc}"
        ) from exc
    ident = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    artifacts_root = artifacts_root.resolve()
    run_dir = artifacts_root / ident / "runner"
    run_dir.mkdir(parents=True, exist_ok=True)
    if inventory is None:
        if site_file is None:
            raise ProvisionError("give a site file or an inventory")
        if not site_file.is_file():
            raise ProvisionError(f"{site_file}: no such site file")
        inventory = site_inventory_config(site_file, cluster, run_dir / "inventory")
    elif not inventory.exists():
        raise ProvisionError(f"{inventory}: no such inventory")
    cmdline = " ".join(flag for flag, on in (("--check", check), ("--diff", diff)) if on)
    progress = Progress()

    def handler(event: dict[str, Any]) -> bool:
        progress.record(event)
        if on_event is not None:
            on_event(progress, event)
        return True

    runner = ansible_runner.run(
        private_data_dir=str(run_dir),
        artifact_dir=str(artifacts_root),
        ident=ident,
        project_dir=str(playbooks_dir() / "project"),
        playbook=playbook,
        inventory=str(inventory.resolve()),
        limit=limit,
        cmdline=cmdline or None,
        extravars=extra_vars or {},
        envvars={"ANSIBLE_CONFIG": str(playbooks_dir() / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        event_handler=handler,
        quiet=True,
    )
    stats: dict[str, dict[str, int]] = runner.stats or {}
    hosts: dict[str, HostSummary] = {}
    for key, attr in (
        ("ok", "ok"),
        ("changed", "changed"),
        ("failures", "failed"),
        ("dark", "unreachable"),
        ("skipped", "skipped"),
    ):
        for host, n in stats.get(key, {}).items():
            setattr(hosts.setdefault(host, HostSummary()), attr, n)
    return ProvisionResult(
        rc=int(runner.rc),
        status=str(runner.status),
        artifact_dir=Path(runner.config.artifact_dir),
        hosts=dict(sorted(hosts.items())),
    )
