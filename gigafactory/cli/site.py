"""`gigafactory plan` and `gigafactory check` over a site file."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gigafactory.errors import GigafactoryError
from gigafactory.model import load_site
from gigafactory.plan import plan as make_plan
from gigafactory.report import print_tables, report_dict
from gigafactory.rules import evaluate, has_mandatory, load_policy


class Format(StrEnum):
    table = "table"
    json = "json"


SiteArg = Annotated[Path, typer.Argument(help="Site file, e.g. sites/narvik.yaml.", show_default=False)]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
PolicyOpt = Annotated[
    Path | None,
    typer.Option("--policy", help="Policy config file (default: the packaged, versioned one)."),
]


def fail(exc: GigafactoryError) -> typer.Exit:
    """Print one line on stderr and return the exit for invalid input (2)."""
    typer.echo(f"gigafactory: error: {exc}", err=True)
    return typer.Exit(2)


def _run(site_file: Path, fmt: Format, policy: Path | None, title: str) -> bool:
    try:
        site = load_site(site_file)
        config = load_policy(policy)
    except GigafactoryError as exc:
        raise fail(exc) from None
    site_plan = make_plan(site)
    violations = evaluate(site, site_plan, config)
    if fmt is Format.json:
        typer.echo(json.dumps(report_dict(site_plan, violations), indent=2))
    else:
        print_tables(site_plan, violations, title=title)
    return has_mandatory(violations)


def plan_cmd(site: SiteArg, fmt: FormatOpt = Format.table, policy: PolicyOpt = None) -> None:
    """Capacity report and every policy violation. Exit 0, or 2 on invalid input."""
    _run(site, fmt, policy, "Capacity plan")


def check_cmd(site: SiteArg, fmt: FormatOpt = Format.table, policy: PolicyOpt = None) -> None:
    """Policy gate. Exit 0 with no mandatory violation, 1 with any, 2 on invalid input."""
    if _run(site, fmt, policy, "Policy check"):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_cmd)
    app.command("check")(check_cmd)
