"""The real Pulumi engine, driven through the Automation API with the program inline.

``run("up", "sim")`` reads ``stacks/Pulumi.sim.yaml``, starts the pinned Pulumi CLI (built by
``make toolchain``) against a local file backend and runs ``components.program.program`` in this
process: the same function ``__main__.py`` runs under ``pulumi up``, so both apply the same code.
The Python language host is not needed (the CLI runs with ``--client`` against this process).

What the engine gets, and why:

- ``work_dir`` is the project (``Pulumi.yaml``, ``stackConfigDir: stacks``), so the stack's own
  config file is read; inline programs ignore a plain ``work_dir`` argument.
- State: ``$PULUMI_BACKEND_URL`` when set, else a file backend under
  ``${GIGAFACTORY_STATE_DIR:-~/.local/state/gigafactory}/pulumi``, outside the work tree; a
  private ``PULUMI_HOME`` next to it; an empty passphrase (the stacks hold no secrets).
- No update check, no plugin downloads: the built Kubernetes provider is on ``PATH`` and is
  picked up as an ambient plugin.
- The cluster: the ``kubeconfig`` the caller gives (the CLI gives the simulator's for a
  simulator stack, platform ``kwok``: the simulator depends on this package, not the reverse);
  else ``kubernetes:kubeconfig`` / ``kubernetes:context`` of the stack's config (the provider
  reads them) or the user's ``KUBECONFIG``.
- ``policy_pack=True`` runs the CrossGuard pack inside the engine through ``policy/analyzer``,
  an executable the CLI launches as an analyzer plugin; the stack's config reaches the pack as
  ``PULUMI_CONFIG``.

Pulumi is imported inside functions only: the library stays importable without it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gigafactory import toolchain
from gigafactory.errors import GigafactoryError
from gigafactory.project import ENV_VAR as PROJECT_ENV_VAR
from gigafactory.project import project_dir
from gigafactory.stack.config import PROJECT, StackConfig, load_stack_config
from gigafactory.stack.render import SIM_PLATFORM, resolve_target

Action = Literal["preview", "up", "destroy"]
ACTIONS: tuple[Action, ...] = ("preview", "up", "destroy")
ENV_STATE_DIR = "GIGAFACTORY_STATE_DIR"
DEFAULT_STATE_DIR = Path("~/.local/state/gigafactory")
POLICY_LAUNCHER = "policy/analyzer"
"""Executable the engine starts as the policy pack's analyzer (relative to the project)."""
POLICY_CONFIG = "policy/policy-config.json"
# A policy the SDK could not evaluate at preview becomes an advisory with this text; a pack
# that silently skips a rule must not pass (policy/preview.sh fails on it too).
CANT_RUN_POLICY = "can't run policy"
# Operations as the one-character marks `pulumi` prints.
_MARKS = {
    "create": "+",
    "update": "~",
    "delete": "-",
    "replace": "+-",
    "create-replacement": "++",
    "delete-replaced": "--",
    "same": "=",
    "read": ">",
    "refresh": "~",
}


class EngineError(GigafactoryError):
    """The engine cannot start: no CLI or provider built, no simulator up, an unusable state dir."""


@dataclass(frozen=True)
class PolicyFinding:
    """One policy event of the engine."""

    policy: str
    level: str
    """mandatory, advisory or disabled, as the engine reports it."""
    message: str
    resource: str | None
    """Name of the resource the finding is about; None for a stack policy."""

    @property
    def fails(self) -> bool:
        return self.level == "mandatory" or CANT_RUN_POLICY in self.message


@dataclass
class Outcome:
    """What one engine run did."""

    action: Action
    stack: str
    ok: bool
    seconds: float
    changes: dict[str, int] = field(default_factory=dict)
    """Resources per operation (create, update, delete, same, ...)."""
    policies: list[PolicyFinding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """The engine's error diagnostics, one line each."""
    provided: tuple[str, ...] = ()
    """Parts of the platform the stack leaves to the environment."""

    @property
    def policy_failures(self) -> list[PolicyFinding]:
        return [p for p in self.policies if p.fails]

    @property
    def changed(self) -> int:
        return sum(n for op, n in self.changes.items() if op != "same")


def state_dir() -> Path:
    """Where the engine keeps stacks and its private Pulumi home (outside the work tree)."""
    return Path(os.environ.get(ENV_STATE_DIR) or DEFAULT_STATE_DIR).expanduser()


def backend_url() -> str:
    """``$PULUMI_BACKEND_URL``, else the local file backend under ``state_dir()``."""
    url = os.environ.get("PULUMI_BACKEND_URL")
    if url:
        return url
    folder = state_dir() / "pulumi"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EngineError(
            f"cannot create the state folder {folder}: {exc.strerror}; set {ENV_STATE_DIR}"
        ) from None
    return f"file://{folder}"


def pulumi_config(settings: StackConfig) -> dict[str, str]:
    """The stack's config as the engine hands it to programs and analyzers: strings by full key."""
    return {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in settings.values.items()
        if value is not None
    }


def is_simulated(settings: StackConfig, root: Path) -> bool:
    """The stack's cluster is the local simulator (platform kwok)."""
    _, cluster = resolve_target(settings.site, settings.cluster, settings.platform, root)
    return cluster.platform == SIM_PLATFORM


def engine_env(settings: StackConfig, root: Path, kubeconfig: Path | None = None) -> dict[str, str]:
    """Environment of the Pulumi CLI (and through it, of the provider and the analyzer)."""
    bin_dir = toolchain.binary("pulumi").parent
    toolchain.binary("pulumi-resource-kubernetes")
    env = {
        "PULUMI_BACKEND_URL": backend_url(),
        "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", ""),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        # For the analyzer: the stack's config, this interpreter and the project.
        "PULUMI_CONFIG": json.dumps(pulumi_config(settings)),
        "GIGAFACTORY_PYTHON": sys.executable,
        PROJECT_ENV_VAR: str(root),
    }
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return env


def _short_type(type_: str) -> str:
    """``kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue`` -> ``kueue.x-k8s.io/ClusterQueue``."""
    parts = type_.split(":")
    if parts[0] == "kubernetes" and len(parts) == 3:
        group = parts[1].split("/")[0]
        return parts[2] if group in ("core", "") else f"{group}/{parts[2]}"
    return type_


class _Progress:
    """Turns the engine's event stream into one line per resource and collects the outcome."""

    def __init__(self, echo: Callable[[str], None], outcome: Outcome) -> None:
        self.echo = echo
        self.outcome = outcome
        self.started: dict[str, float] = {}
        self.done: set[str] = set()

    def __call__(self, event: Any) -> None:
        try:
            self._handle(event)
        except Exception as exc:  # never let a display problem abort the engine
            self.echo(f"gigafactory: progress display failed: {exc}")

    def _line(self, meta: Any, failed: bool = False) -> None:
        urn: str = meta.urn
        if (
            urn in self.done
            or meta.type == "pulumi:pulumi:Stack"
            or meta.type.startswith("pulumi:providers:")
        ):
            return
        self.done.add(urn)
        op = str(getattr(meta.op, "value", meta.op))
        took = time.monotonic() - self.started.get(urn, time.monotonic())
        timing = f" ({took:.1f}s)" if took >= 0.05 else ""
        status = " FAILED" if failed else ""
        self.echo(
            f"  {_MARKS.get(op, op):<2} {op:<8} {_short_type(meta.type)} {urn.split('::')[-1]}{timing}{status}"
        )

    def _handle(self, event: Any) -> None:
        if event.resource_pre_event is not None:
            self.started.setdefault(event.resource_pre_event.metadata.urn, time.monotonic())
            if self.outcome.action == "preview":
                self._line(event.resource_pre_event.metadata)
        elif event.res_outputs_event is not None:
            self._line(event.res_outputs_event.metadata)
        elif event.res_op_failed_event is not None:
            self._line(event.res_op_failed_event.metadata, failed=True)
        elif event.diagnostic_event is not None:
            diag = event.diagnostic_event
            if diag.severity == "error":
                text = " ".join(diag.message.split())
                where = f"{diag.urn.split('::')[-1]}: " if diag.urn else ""
                self.outcome.errors.append(f"{where}{text}")
                self.echo(f"  error: {where}{text}")
        elif event.policy_event is not None:
            pol = event.policy_event
            # The engine sends the policy's description, a newline, then what was found.
            description, _, found = pol.message.strip().partition("\n")
            finding = PolicyFinding(
                policy=pol.policy_name,
                level=pol.enforcement_level,
                message=" ".join((found or description).split()),
                resource=pol.resource_urn.split("::")[-1] if pol.resource_urn else None,
            )
            self.outcome.policies.append(finding)
            subject = f" [{finding.resource}]" if finding.resource else ""
            self.echo(f"  policy {finding.level}: {finding.policy}{subject}: {finding.message}")
        elif event.summary_event is not None:
            changes = event.summary_event.resource_changes or {}
            self.outcome.changes = {str(getattr(op, "value", op)): int(n) for op, n in changes.items()}


def _inline_program(root: Path) -> Callable[[], None]:
    def run() -> None:
        import pulumi

        from components.program import program
        from gigafactory.stack.config import from_strings

        # Exactly what __main__.py does under `pulumi up`.
        program(from_strings(pulumi.get_stack(), pulumi.runtime.get_config, root), root)

    return run


def run(
    action: Action,
    stack: str,
    *,
    root: Path | None = None,
    policy_pack: bool = False,
    kubeconfig: Path | None = None,
    echo: Callable[[str], None] = print,
) -> Outcome:
    """Run ``action`` on ``stack`` with the real engine against the cluster of ``kubeconfig``
    (None: the stack's config says); progress goes to ``echo`` one line per resource. Raises StackConfigError / EngineError / ToolchainMissing (bad input or environment,
    before anything changes); an engine failure or a failing policy is ``Outcome.ok == False``."""
    from pulumi import automation as auto

    base = root or project_dir()
    settings = load_stack_config(stack, base)
    env = engine_env(settings, base, kubeconfig)
    home = state_dir() / "pulumi-home"
    home.mkdir(parents=True, exist_ok=True)
    # The Automation API runs `pulumi` from PATH (this process's) to check its version.
    os.environ["PATH"] = env["PATH"]
    outcome = Outcome(action=action, stack=stack, ok=False, seconds=0.0, provided=settings.provided)
    progress = _Progress(echo, outcome)
    started = time.monotonic()
    try:
        workspace = auto.LocalWorkspaceOptions(work_dir=str(base), pulumi_home=str(home), env_vars=env)
        target = auto.create_or_select_stack(
            stack_name=stack, project_name=PROJECT, program=_inline_program(base), opts=workspace
        )
        packs: dict[str, Any] = {}
        if policy_pack:
            packs = {
                "policy_packs": [str(base / POLICY_LAUNCHER)],
                "policy_pack_configs": [str(base / POLICY_CONFIG)],
            }
        if action == "preview":
            target.preview(on_event=progress, on_output=_discard, diff=False, **packs)
        elif action == "up":
            target.up(on_event=progress, on_output=_discard, **packs)
        else:
            target.destroy(on_event=progress, on_output=_discard)
        outcome.ok = True
    except auto.CommandError as exc:
        if not outcome.errors:
            outcome.errors.extend(_last_error_lines(str(exc)))
    outcome.seconds = time.monotonic() - started
    if outcome.policy_failures:
        outcome.ok = False
    return outcome


def _discard(_: str) -> None:
    """The CLI's own text output: the event stream says the same, one line per resource."""


def _last_error_lines(text: str, limit: int = 8) -> list[str]:
    """The useful tail of a failed CLI run: its error lines, else its last lines."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines)[-limit:]
