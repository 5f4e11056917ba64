"""`gigafactory plan` and `gigafactory check` over a site file."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gigafactory.planning.plan import plan as make_plan
from gigafactory.policy.engine import check_stacks, evaluate, has_mandatory, load_policy
from gigafactory.report.tables import print_tables, report_dict
from gigafactory.site import load_site


class Format(StrEnum):
    table = "table"
    json = "json"


SiteArg = Annotated[Path, typer.Argument(help="Site file, e.g. sites/narvik.yaml.", show_default=False)]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
PolicyOpt = Annotated[
    Path | None,
    typer.Option("--policy", help="Policy config file (default: the packaged, versioned one)."),
]


def _run(site_file: Path, fmt: Format, policy: Path | None, title: str) -> bool:
    site = load_site(site_file)
    config = load_policy(policy)
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


OptionalSiteArg = Annotated[
    Path | None, typer.Argument(help="Site file, e.g. sites/narvik.yaml.", show_default=False)
]
StackOpt = Annotated[
    str | None,
    typer.Option(
        "--stack",
        help="Check one Pulumi stack (stacks/Pulumi.<stack>.yaml) offline: its site rules and the "
        "policies over the resources it renders. No Pulumi CLI, cluster or cloud account.",
        show_default=False,
    ),
]
AllStacksOpt = Annotated[bool, typer.Option("--all-stacks", help="Check every stack in stacks/ offline.")]


def _run_stacks(names: list[str] | None, fmt: Format, policy: Path | None) -> bool:
    """Check stacks ``names`` (None: all) and print their reports; True on a mandatory violation."""
    reports = check_stacks(names, load_policy(policy))
    if fmt is Format.json:
        docs = [{"stack": r.stack, **report_dict(r.plan, r.violations)} for r in reports]
        typer.echo(json.dumps(docs[0] if names else docs, indent=2))
    else:
        for r in reports:
            print_tables(r.plan, r.violations, title=f"Policy check: stack {r.stack}")
    return any(has_mandatory(r.violations) for r in reports)


def check_cmd(
    site: OptionalSiteArg = None,
    stack: StackOpt = None,
    all_stacks: AllStacksOpt = False,
    fmt: FormatOpt = Format.table,
    policy: PolicyOpt = None,
) -> None:
    """Policy gate for a site file, one stack or every stack (give exactly one).
    Exit 0 with no mandatory violation, 1 with any, 2 on invalid input."""
    if (site is not None) + (stack is not None) + all_stacks != 1:
        typer.echo("gigafactory: error: give exactly one of SITE, --stack NAME or --all-stacks", err=True)
        raise typer.Exit(2)
    if site is not None:
        failed = _run(site, fmt, policy, "Policy check")
    else:
        failed = _run_stacks([stack] if stack is not None else None, fmt, policy)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_cmd)
    app.command("check")(check_cmd)
