"""`gigafactory report` (the HTML site report) and `gigafactory diff` (what a change does)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from gigafactory.cli.site import PolicyOpt, SiteArg
from gigafactory.planning.plan import plan as make_plan
from gigafactory.policy.engine import evaluate, load_policy
from gigafactory.site import load_site


class DiffFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    json = "json"


OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Folder for index.html and figures/ (created).")]
RevisionArg = Annotated[
    str,
    typer.Argument(
        help="A site file, or REV:path at a git revision (e.g. HEAD~1:sites/narvik.yaml).",
        show_default=False,
    ),
]
DiffFormatOpt = Annotated[DiffFormat, typer.Option("--format", "-f", help="Output format.")]


def report_cmd(site: SiteArg, out: OutOpt = Path("report"), policy: PolicyOpt = None) -> None:
    """Write the site report: one self-contained HTML page plus every figure as SVG and PNG.
    Exit 0, or 2 on invalid input."""
    # Imported here: matplotlib is the report's cost, the other commands do not pay for it.
    from gigafactory.report.html import render_report, write_report

    loaded = load_site(site)
    config = load_policy(policy)
    site_plan = make_plan(loaded)
    report = render_report(loaded, site_plan, evaluate(loaded, site_plan, config), config)
    try:
        page = write_report(report, out)
    except OSError as exc:
        typer.echo(f"gigafactory: error: {out}: cannot write the report: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {page} and {len(report.figures)} figures (SVG and PNG) in {page.parent / 'figures'}")


def diff_cmd(
    old: RevisionArg,
    new: RevisionArg,
    fmt: DiffFormatOpt = DiffFormat.table,
    policy: PolicyOpt = None,
) -> None:
    """What changes from OLD to NEW: GPUs, nodes, racks, power, headroom, fabric switches, and
    which rules start or stop failing. Exit 0, 1 when NEW adds a mandatory violation, 2 on
    invalid input."""
    from gigafactory.report.diff import adds_mandatory, diff_dict, load_revision, markdown, print_table

    config = load_policy(policy)
    doc = diff_dict(load_revision(old, config), load_revision(new, config))
    if fmt is DiffFormat.json:
        typer.echo(json.dumps(doc, indent=2))
    elif fmt is DiffFormat.markdown:
        typer.echo(markdown(doc, old, new), nl=False)
    else:
        print_table(doc, old, new)
    if adds_mandatory(doc):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
    app.command("diff")(diff_cmd)
