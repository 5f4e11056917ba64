"""Run a playbook of playbooks/project through ansible-runner, for a site and cluster.

The site inventory comes from the repository's inventory plugin (a plugin configuration is
written next to the run's artifacts), so no generated host list sits between the site file
and the run. Artifacts (events, stdout, stats) are kept under ``artifacts_root/<ident>``.

Everything a run needs is checked before its folder is created: the playbook, the
``ansible-playbook`` executable, the inventory (the site builds and its addresses fit, or an
explicit inventory parses), the cluster, ``--limit`` (it must select at least one host) and
the extra variables. A run folder therefore always belongs to a run that started.

Artifacts never hold the caller's environment: ansible-runner writes the environment it runs
Ansible with to ``<ident>/command``, so it is given only RUNNER_ENVIRONMENT. Run folders are
private (0700, files 0600), extra variables whose names mark them secret (SECRET_VAR_NAME) go
to Ansible through a private file outside the artifacts that is removed after the run, and
only the newest KEEP_RUNS run folders are kept.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gigafactory.baremetal.inventory import Inventory, build
from gigafactory.errors import GigafactoryError
from gigafactory.project import project_dir

RUNNER_ENVIRONMENT = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "VIRTUAL_ENV",
    "SSH_AUTH_SOCK",
    "KUBECONFIG",
)
"""The only caller environment variables Ansible gets (names and paths, never credentials):
ansible-runner writes the environment to the run's ``command`` file."""

KEEP_RUNS = 20
"""Run folders kept under the artifacts root by default; older runs are deleted after a run."""

SECRET_VAR_NAME = re.compile(r"password|passwd|secret|token|api_?key|private_?key|credential", re.IGNORECASE)
"""Extra variables whose name matches are secret: never written into the run folder."""

EXTRA_VARS_MAX_BYTES = 1 << 20
"""Largest --extra-vars text or file read (1 MiB)."""

_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RUN_IDENT = re.compile(r"\d{8}T\d{12}Z")
_INVENTORY_CHECK_TIMEOUT_S = 600


def playbooks_dir() -> Path:
    """playbooks/ of the project the user works in (gigafactory.project), never of the installed package."""
    return project_dir() / "playbooks"


PLAYBOOKS = ("validate.yml", "prepare.yml", "rollout.yml", "health.yml")
"""Entry playbooks a user may run."""


class ProvisionError(GigafactoryError):
    """A provisioning run cannot start (unknown playbook, bad inventory, limit or extra variables,
    ansible-runner or ansible-playbook absent)."""


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
    config: dict[str, str] = {"plugin": "gigafactory_site", "site": str(site_file.resolve())}
    if cluster:
        config["cluster"] = cluster
    # JSON is YAML: names with ':' or '#' stay one scalar each.
    path.write_text("".join(f"{key}: {json.dumps(value)}\n" for key, value in config.items()))
    return path


# ---------------------------------------------------------------------------------------
# Checks made before a run folder exists
# ---------------------------------------------------------------------------------------


def load_extra_vars(arg: str) -> dict[str, Any]:
    """``--extra-vars``: a JSON object, or ``@file`` holding one. Keys must be variable names;
    NaN, infinity and duplicate keys are refused. Raises ProvisionError naming the problem."""
    where = "--extra-vars"
    text = arg
    if arg.startswith("@"):
        path = Path(arg[1:])
        where = f"--extra-vars {arg}"
        try:
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):
                raise ProvisionError(f"{where}: not a regular file")
            if info.st_size > EXTRA_VARS_MAX_BYTES:
                raise ProvisionError(f"{where}: larger than {EXTRA_VARS_MAX_BYTES} bytes")
            with path.open("rb") as f:
                raw = f.read(EXTRA_VARS_MAX_BYTES + 1)
            text = raw.decode("utf-8")
        except OSError as exc:
            raise ProvisionError(f"{where}: cannot read: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ProvisionError(f"{where}: not UTF-8 text") from None
    if len(text.encode("utf-8", "surrogatepass")) > EXTRA_VARS_MAX_BYTES:
        raise ProvisionError(f"{where}: larger than {EXTRA_VARS_MAX_BYTES} bytes")

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen[key] = value
        return seen

    try:
        data = json.loads(text, parse_constant=no_constant, object_pairs_hook=unique)
    except json.JSONDecodeError as exc:
        raise ProvisionError(
            f"{where} is not JSON: {exc.msg} (line {exc.lineno} column {exc.colno})"
        ) from None
    except ValueError as exc:
        raise ProvisionError(f"{where} is not valid: {exc}") from None
    except RecursionError:
        raise ProvisionError(f"{where}: nested too deeply") from None
    if not isinstance(data, dict):
        raise ProvisionError(f"{where} must be a JSON object")
    check_var_names(data, where)
    return data


def check_var_names(extra_vars: dict[str, Any], where: str = "--extra-vars") -> None:
    """Every key is an Ansible variable name; raises ProvisionError naming the first that is not."""
    for key in extra_vars:
        if not isinstance(key, str) or not _VAR_NAME.fullmatch(key):
            raise ProvisionError(
                f"{where}: {str(key)[:40]!r} is not a variable name (letters, digits and '_', not first a digit)"
            )


def split_secret_vars(extra_vars: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plain, secret): secret variables are those whose name matches SECRET_VAR_NAME."""
    plain = {k: v for k, v in extra_vars.items() if not SECRET_VAR_NAME.search(k)}
    secret = {k: v for k, v in extra_vars.items() if SECRET_VAR_NAME.search(k)}
    return plain, secret


def _limit_terms(limit: str) -> list[str]:
    if limit.startswith("@"):
        try:
            text = Path(limit[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProvisionError(f"--limit {limit}: cannot read: {exc}") from None
        return [line.strip() for line in text.splitlines() if line.strip()]
    separator = "," if "," in limit else ":"
    return [term.strip() for term in limit.split(separator) if term.strip()]


def select_hosts(inv: Inventory, limit: str) -> set[str]:
    """The hosts an Ansible host pattern selects in ``inv``: terms separated by ',' (or ':'),
    ``!`` excludes, ``&`` intersects, ``~`` starts a regular expression, shell wildcards, and
    group names select every host below the group; a ``[..]`` subscript is ignored."""
    members: dict[str, set[str]] = {}

    def hosts_below(name: str, seen: set[str]) -> set[str]:
        if name in members:
            return members[name]
        group = inv.groups[name]
        out = set(group.hosts)
        for child in group.children:
            if child in inv.groups and child not in seen:
                out |= hosts_below(child, seen | {child})
        members[name] = out
        return out

    all_hosts = set(inv.hostvars)

    def match(term: str) -> set[str]:
        if term in ("all", "*"):
            return set(all_hosts)
        if term.startswith("~"):
            try:
                pattern = re.compile(term[1:])
            except re.error as exc:
                raise ProvisionError(f"--limit: {term!r} is not a regular expression: {exc}") from None
            names_match: Callable[[str], bool] = lambda n: pattern.search(n) is not None  # noqa: E731
        else:
            body = re.sub(r"\[[0-9:\-]*\]$", "", term)
            if any(c in body for c in "*?["):
                names_match = lambda n: fnmatch.fnmatchcase(n, body)  # noqa: E731
            else:
                names_match = lambda n: n == body  # noqa: E731
        found = {h for h in all_hosts if names_match(h)}
        for name in inv.groups:
            if names_match(name):
                found |= hosts_below(name, {name})
        return found

    selected: set[str] = set()
    intersect: list[set[str]] = []
    exclude: set[str] = set()
    for term in _limit_terms(limit):
        if term.startswith("!"):
            exclude |= match(term[1:])
        elif term.startswith("&"):
            intersect.append(match(term[1:]))
        else:
            selected |= match(term)
    for other in intersect:
        selected &= other
    return selected - exclude


def runner_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment Ansible runs with: RUNNER_ENVIRONMENT from the caller, the project's
    Ansible configuration, plus ``extra``."""
    env = {name: os.environ[name] for name in RUNNER_ENVIRONMENT if name in os.environ}
    # Ansible installed beside this Python (a virtual environment not activated) comes first.
    here = Path(sys.executable).parent
    if (here / "ansible-playbook").is_file():
        env["PATH"] = os.pathsep.join(filter(None, (str(here), env.get("PATH"))))
    env["ANSIBLE_CONFIG"] = str(playbooks_dir() / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env.update(extra or {})
    return env


def _explicit_inventory_hosts(inventory: Path, limit: str | None) -> set[str]:
    """Hosts of an inventory file as Ansible parses it (a parse error is an error)."""
    tool = shutil.which("ansible-inventory", path=runner_environment().get("PATH"))
    if tool is None:
        raise ProvisionError("ansible-inventory is not on PATH (pip install 'gigafactory[ansible]')")
    cmd = [tool, "-i", str(inventory), "--list"]
    if limit:
        cmd += ["--limit", limit]
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=runner_environment(),
            timeout=_INVENTORY_CHECK_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ProvisionError(
            f"{inventory}: ansible-inventory did not finish in {_INVENTORY_CHECK_TIMEOUT_S} s"
        ) from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        why = next((ln for ln in lines if ln.startswith(("ERROR", "[ERROR]"))), lines[-1] if lines else "")
        raise ProvisionError(f"{inventory}: Ansible cannot read this inventory: {why[:300]}")
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise ProvisionError(f"{inventory}: ansible-inventory printed no inventory") from None
    hosts: set[str] = set()
    for name, group in data.items():
        if name != "_meta" and isinstance(group, dict):
            hosts.update(group.get("hosts", []))
    return hosts


@dataclass(frozen=True)
class _Plan:
    inventory: Path | None
    """Explicit inventory, or None for the site's plugin configuration."""
    hosts: int
    """Hosts the run targets (after --limit)."""


def _preflight(
    site_file: Path | None, cluster: str | None, inventory: Path | None, limit: str | None
) -> _Plan:
    """Everything that can be known wrong before a run folder is created."""
    from gigafactory.site import load_site
    from gigafactory.site.load import address_plan_fits

    if limit is not None and not _limit_terms(limit):
        raise ProvisionError("--limit is empty; give a host or group pattern")
    if inventory is not None:
        if not inventory.exists():
            raise ProvisionError(f"{inventory}: no such inventory")
        hosts = _explicit_inventory_hosts(inventory, limit)
        if not hosts:
            what = f"--limit {limit!r} matches no host of" if limit else "no hosts in"
            raise ProvisionError(f"{what} {inventory}")
        return _Plan(inventory.resolve(), len(hosts))
    if site_file is None:
        raise ProvisionError("give a site file or an inventory")
    if not site_file.is_file():
        raise ProvisionError(f"{site_file}: no such site file")
    site = load_site(site_file)
    if cluster is not None:
        site.cluster(cluster)  # NotFoundError names the clusters there are
    address_plan_fits(site)  # never provision hosts whose addresses fall outside their hall
    inv = build(site, cluster)
    selected = select_hosts(inv, limit) if limit else set(inv.hostvars)
    if not selected:
        scope = f"cluster {cluster!r} of {site_file}" if cluster else str(site_file)
        if limit:
            raise ProvisionError(f"--limit {limit!r} matches no host of {scope}")
        raise ProvisionError(f"{scope} has no hosts")
    return _Plan(None, len(selected))


# ---------------------------------------------------------------------------------------
# Run folders: private, pruned
# ---------------------------------------------------------------------------------------


def prune_runs(artifacts_root: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` run folders (named by their UTC start time) under
    ``artifacts_root``; anything else there is left alone. Returns what was deleted."""
    if keep < 1:
        raise ProvisionError(f"keep {keep} runs: at least 1 (the run just made)")
    if not artifacts_root.is_dir():
        return []
    runs = sorted(
        p
        for p in artifacts_root.iterdir()
        if _RUN_IDENT.fullmatch(p.name) and p.is_dir() and not p.is_symlink()
    )
    old = runs[: max(0, len(runs) - keep)]
    for path in old:
        shutil.rmtree(path, ignore_errors=True)
    return old


def _make_private(root: Path) -> None:
    """Folders 0700 and files 0600 below ``root`` (and ``root`` itself)."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o700)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o600)
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]


@contextmanager
def _only_environ(env: dict[str, str]) -> Iterator[None]:
    """os.environ is exactly ``env`` inside the block: ansible-runner seeds its job environment
    from it (and writes that to the artifacts)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _secret_vars_file(secret: dict[str, Any]) -> Iterator[Path | None]:
    """A 0600 file in a private temporary folder outside the artifacts, removed afterwards."""
    if not secret:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="gigafactory-secret-"))
    try:
        path = folder / "extra-vars.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(secret, f)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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
    skip_tags: tuple[str, ...] = (),
    forks: int | None = None,
    artifacts_root: Path = Path("out/provision"),
    keep_runs: int = KEEP_RUNS,
    on_event: EventCallback | None = None,
) -> ProvisionResult:
    """Run ``playbook`` against the site inventory (or an explicit ``inventory``) and summarise it.

    ``skip_tags`` leaves out the roles of those tags (``--skip-tags``); ``forks`` overrides
    ansible.cfg's hosts handled at once. Raises ProvisionError (or SiteFileError, NotFoundError)
    before anything is written when the run cannot start; ``status`` is ``canceled`` when the run
    was interrupted."""
    if playbook not in PLAYBOOKS:
        raise ProvisionError(f"unknown playbook {playbook!r}; allowed: {', '.join(PLAYBOOKS)}")
    if keep_runs < 1:
        raise ProvisionError(f"keep {keep_runs} runs: at least 1 (the run just made)")
    try:
        from ansible_runner.interface import init_runner
    except ImportError as exc:
        raise ProvisionError(
            f"ansible-runner is not installed (pip install 'gigafactory[ansible]'): {exc}"
        ) from exc
    env = runner_environment()
    if shutil.which("ansible-playbook", path=env.get("PATH")) is None:
        raise ProvisionError("ansible-playbook is not on PATH (pip install 'gigafactory[ansible]')")
    check_var_names(extra_vars or {})
    if forks is not None and forks < 1:
        raise ProvisionError(f"forks {forks}: at least 1")
    plain_vars, secret_vars = split_secret_vars(extra_vars or {})
    plan = _preflight(site_file, cluster, inventory, limit)

    ident = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    artifacts_root = artifacts_root.resolve()
    artifacts_root.mkdir(parents=True, exist_ok=True)
    os.chmod(artifacts_root, 0o700)
    run_dir = artifacts_root / ident / "runner"
    old_umask = os.umask(0o077)
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
        inventory_path = plan.inventory or site_inventory_config(
            site_file or Path(), cluster, run_dir / "inventory"
        )
        progress = Progress()

        def handler(event: dict[str, Any]) -> bool:
            progress.record(event)
            if on_event is not None:
                on_event(progress, event)
            return True

        with _secret_vars_file(secret_vars) as secret_file:
            flags = [flag for flag, on in (("--check", check), ("--diff", diff)) if on]
            if secret_file is not None:
                flags += ["--extra-vars", shlex.quote(f"@{secret_file}")]
            with _only_environ(env):
                runner = init_runner(
                    private_data_dir=str(run_dir),
                    artifact_dir=str(artifacts_root),
                    ident=ident,
                    project_dir=str(playbooks_dir() / "project"),
                    playbook=playbook,
                    inventory=str(inventory_path),
                    limit=limit,
                    cmdline=" ".join(flags) or None,
                    extravars=plain_vars,
                    skip_tags=",".join(skip_tags) or None,
                    forks=forks,
                    envvars=env,
                    event_handler=handler,
                    quiet=True,
                )
            runner.run()
    finally:
        os.umask(old_umask)
        _make_private(artifacts_root / ident)
        prune_runs(artifacts_root, keep_runs)
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
        # rc is None when ansible-playbook never returned (killed, timed out): report it as failed.
        rc=int(runner.rc) if runner.rc is not None else 1,
        status=str(runner.status),
        artifact_dir=Path(runner.config.artifact_dir),
        hosts=dict(sorted(hosts.items())),
    )
