"""`gigafactory preview|up|destroy`: a stack by the real Pulumi engine (Automation API, inline
program, local file backend). Exit 0, 1 when the engine fails or a mandatory policy is
violated, 2 on bad input (unknown stack, toolchain not built, simulator not up)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gigafactory.project import project_dir
from gigafactory.sim import cluster as sim
from gigafactory.stack.config import load_stack_config
from gigafactory.stack.engine import Action, EngineError, Outcome, is_simulated, run

StackOpt = Annotated[str, typer.Option("--stack", "-s", help="Stack name: stacks/Pulumi.<stack>.yaml.")]
YesOpt = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Apply without asking (also when stdin is not a terminal)."),
]
PolicyOpt = Annotated[
    bool,
    typer.Option(
        "--policy-pack",
        help="Run the policy pack (policy/) inside the engine; a mandatory violation exits 1.",
    ),
]

_PAST = {"preview": "previewed", "up": "updated", "destroy": "destroyed"}


def _echo(line: str) -> None:
    typer.echo(line)


def _report(outcome: Outcome) -> int:
    """Print the closing lines of a run; return its exit code."""
    changes = ", ".join(f"{n} {op}" for op, n in sorted(outcome.changes.items())) or "no changes"
    for finding in outcome.policy_failures:
        subject = f" [{finding.resource}]" if finding.resource else ""
        typer.echo(
            f"gigafactory: policy violation ({finding.level}): {finding.policy}{subject}: {finding.message}",
            err=True,
        )
    if not outcome.ok:
        for line in outcome.errors if not outcome.policy_failures else []:
            typer.echo(f"gigafactory: {outcome.action} failed: {line}", err=True)
        typer.echo(f"{outcome.stack}: {outcome.action} FAILED after {outcome.seconds:.1f} s ({changes})")
        return 1
    typer.echo(f"{outcome.stack}: {_PAST[outcome.action]} in {outcome.seconds:.1f} s ({changes})")
    return 0


def _provided_line(provided: tuple[str, ...]) -> None:
    if provided:
        typer.echo(f"left to the environment: {', '.join(provided)}")


def _kubeconfig(stack: str) -> Path | None:
    """The simulator's kubeconfig for a simulator stack (EngineError when it is not up); None
    for other stacks, whose config or the user's environment says which cluster."""
    root = project_dir()
    if not is_simulated(load_stack_config(stack, root), root):
        return None
    path = sim.kubeconfig_path(stack)
    if not path.is_file():
        raise EngineError(
            f"stack {stack!r} runs on the simulator, which is not up (no {path}); "
            f"run `gigafactory sim up --stack {stack}` first"
        )
    return path


def _run(action: Action, stack: str, *, policy_pack: bool = False) -> int:
    provided = load_stack_config(stack, project_dir()).provided
    typer.echo(f"{stack}: {action} by the Pulumi engine")
    _provided_line(provided)
    outcome = run(action, stack, policy_pack=policy_pack, kubeconfig=_kubeconfig(stack), echo=_echo)
    return _report(outcome)


def _confirmed(action: Action, stack: str, yes: bool) -> bool:
    """No question with --yes or without a terminal; else show the preview and ask."""
    if yes or not sys.stdin.isatty():
        return True
    if action == "up" and _run("preview", stack) != 0:
        return False
    question = f"{action} stack {stack}?" if action == "up" else f"destroy every resource of stack {stack}?"
    return typer.confirm(question, default=False)


def preview_cmd(stack: StackOpt, policy_pack: PolicyOpt = False) -> None:
    """Show what `up` would change, and which parts of the platform are left to the environment.
    Exit 0, 1 when the engine fails or (--policy-pack) a mandatory policy is violated, 2 on bad input."""
    raise typer.Exit(_run("preview", stack, policy_pack=policy_pack))


def up_cmd(stack: StackOpt, yes: YesOpt = False, policy_pack: PolicyOpt = False) -> None:
    """Create or update the stack's resources in its cluster (asks first on a terminal).
    Exit 0, 1 when the engine fails or a mandatory policy is violated, 2 on bad input."""
    if not _confirmed("up", stack, yes):
        typer.echo(f"{stack}: up not confirmed; nothing changed", err=True)
        raise typer.Exit(1)
    raise typer.Exit(_run("up", stack, policy_pack=policy_pack))


def destroy_cmd(stack: StackOpt, yes: YesOpt = False) -> None:
    """Delete every resource of the stack from its cluster (asks first on a terminal).
    Exit 0, 1 when the engine fails, 2 on bad input."""
    if not _confirmed("destroy", stack, yes):
        typer.echo(f"{stack}: destroy not confirmed; nothing changed", err=True)
        raise typer.Exit(1)
    raise typer.Exit(_run("destroy", stack))


def register(app: typer.Typer) -> None:
    app.command("preview")(preview_cmd)
    app.command("up")(up_cmd)
    app.command("destroy")(destroy_cmd)
