"""The `gigafactory` command line: this module only composes the command groups."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from gigafactory.cli import engine as _engine
from gigafactory.cli import fabric as _fabric
from gigafactory.cli import inventory as _inventory
from gigafactory.cli import kind as _kind
from gigafactory.cli import kubeadm as _kubeadm
from gigafactory.cli import provision as _provision
from gigafactory.cli import render as _render
from gigafactory.cli import report as _report
from gigafactory.cli import rollout as _rollout
from gigafactory.cli import sim as _sim
from gigafactory.cli import site as _site
from gigafactory.errors import GigafactoryError
from gigafactory.project import set_project_dir


class _OneErrorHandler(TyperGroup):
    """The one place library errors become the CLI's answer to bad input: one line on stderr
    and exit 2, for every command and sub-command (also under typer's test runner)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except GigafactoryError as exc:
            typer.echo(f"gigafactory: error: {exc}", err=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_OneErrorHandler,
    name="gigafactory",
    help="Plan, check and provision very large, renewable-powered GPU sites.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    project_dir: Annotated[
        Path | None,
        typer.Option(
            "--project-dir",
            help="The gigafactory project (folder with Pulumi.yaml). Default: $GIGAFACTORY_PROJECT_DIR, "
            "else the working directory or its nearest parent with Pulumi.yaml.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Options for every command."""
    set_project_dir(project_dir)


_site.register(app)
_inventory.register(app)
_provision.register(app)
_render.register(app)
_report.register(app)
_rollout.register(app)
_kind.register(app)
_kubeadm.register(app)
_sim.register(app)
_engine.register(app)
_fabric.register(app)


EXIT_INTERRUPTED = 130
"""Exit status after Ctrl-C (128 + SIGINT), as shells report it."""


def main() -> None:
    """Console entry point: bad input is one line on stderr and exit 2, never a traceback;
    Ctrl-C is one line and exit 130 (Typer turns KeyboardInterrupt into exit 130 silently)."""
    try:
        app()
    except GigafactoryError as exc:
        print(f"gigafactory: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # before or after Typer's own handling
        print("gigafactory: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit as exc:
        if exc.code == EXIT_INTERRUPTED:
            print("gigafactory: interrupted", file=sys.stderr)
        raise
