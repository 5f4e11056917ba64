"""The `gigafactory` command line: this module only composes the command groups."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from gigafactory.cli import inventory as _inventory
from gigafactory.cli import kind as _kind
from gigafactory.cli import provision as _provision
from gigafactory.cli import render as _render
from gigafactory.cli import site as _site
from gigafactory.errors import GigafactoryError
from gigafactory.project import set_project_dir

app = typer.Typer(
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
_kind.register(app)


def main() -> None:
    """Console entry point: bad input is one line on stderr and exit 2, never a traceback."""
    try:
        app()
    except GigafactoryError as exc:
        print(f"gigafactory: error: {exc}", file=sys.stderr)
        sys.exit(2)
