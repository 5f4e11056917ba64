"""`gigafactory provision`: run an entry playbook through ansible-runner for a site and cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from gigafactory.baremetal.provision import (
    KEEP_RUNS,
    PLAYBOOKS,
    Progress,
    ProvisionResult,
    load_extra_vars,
    run,
)
from gigafactory.errors import GigafactoryError


def _status_line(progress: Progress) -> Text:
    c = progress.counts
    return Text(
        f"task {progress.tasks}: {progress.task}  ok={c['ok']} changed={c['changed']} "
        f"failed={c['failed']} unreachable={c['unreachable']} skipped={c['skipped']}"
    )


def _summary(result: ProvisionResult) -> Table:
    table = Table(title=f"provision: {result.status} (rc {result.rc})")
    for col in ("host", "ok", "changed", "failed", "unreachable", "skipped"):
        table.add_column(col, justify="left" if col == "host" else "right")
    for host, s in result.hosts.items():
        table.add_row(host, str(s.ok), str(s.changed), str(s.failed), str(s.unreachable), str(s.skipped))
    return table


def provision(
    playbook: Annotated[
        str, typer.Argument(help=f"Entry playbook: {', '.join(PLAYBOOKS)}.", show_default=False)
    ],
    site_file: Annotated[Path, typer.Argument(help="Site file, e.g. sites/narvik.yaml.", show_default=False)],
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="Only this cluster.")] = None,
    limit: Annotated[
        str | None, typer.Option("--limit", "-l", help="Ansible host pattern to limit to.")
    ] = None,
    check: Annotated[bool, typer.Option("--check", help="Dry run: report what would change.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Show file differences.")] = False,
    inventory: Annotated[
        Path | None,
        typer.Option("--inventory", "-i", help="Use this inventory instead of the site's (labs, tests)."),
    ] = None,
    extra_vars: Annotated[
        str | None,
        typer.Option(
            "--extra-vars",
            "-e",
            help="Extra variables as a JSON object, or @file.json. Variables named like a secret "
            "(password, token, secret, api_key, private_key, credential) never reach the artifacts.",
        ),
    ] = None,
    artifacts: Annotated[
        Path, typer.Option("--artifacts", help="Where runner artifacts are kept, one private folder per run.")
    ] = Path("out/provision"),
    keep_runs: Annotated[
        int,
        typer.Option(
            "--keep-runs", min=1, help="Run folders kept under --artifacts; older ones are deleted."
        ),
    ] = KEEP_RUNS,
) -> None:
    """Run PLAYBOOK for the site: live progress, a summary per host, exit 1 on failed hosts.

    Exit 2, before any play runs, on bad input: the inventory cannot be built, the cluster is
    unknown, --limit matches no host, --extra-vars cannot be read, or ansible-playbook is missing.
    Exit 130 when interrupted."""
    try:
        variables: dict[str, Any] = load_extra_vars(extra_vars) if extra_vars else {}
    except GigafactoryError as exc:
        typer.echo(f"gigafactory: error: {exc}", err=True)
        raise typer.Exit(2) from None
    console = Console(stderr=True)
    with Live(Text("starting"), console=console, transient=True) as live:
        try:
            result = run(
                playbook,
                site_file=site_file,
                cluster=cluster,
                inventory=inventory,
                limit=limit,
                check=check,
                diff=diff,
                extra_vars=variables,
                artifacts_root=artifacts,
                keep_runs=keep_runs,
                on_event=lambda progress, _event: live.update(_status_line(progress)),
            )
        except GigafactoryError as exc:
            live.stop()
            typer.echo(f"gigafactory: error: {exc}", err=True)
            raise typer.Exit(2) from None
    if result.status == "canceled":
        raise KeyboardInterrupt  # the runner stopped Ansible on Ctrl-C; main() prints one line
    Console().print(_summary(result))
    typer.echo(f"artifacts: {result.artifact_dir}")
    if result.failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("provision")(provision)
