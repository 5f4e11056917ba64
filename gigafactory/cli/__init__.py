"""The `gigafactory` command line: this module only composes the command groups."""

from __future__ import annotations

import sys

import typer

from gigafactory.cli import inventory as _inventory
from gigafactory.cli import kind as _kind
from gigafactory.cli import provision as _provision
from gigafactory.cli import render as _render
from gigafactory.cli import site as _site
from gigafactory.errors import GigafactoryError

app = typer.Typer(
    name="gigafactory",
    help="Plan, check and provision very large, renewable-powered GPU sites.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
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
