"""`gigafactory rollout-plan`: batches and wall time of a fleet-wide change, from the model."""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gigafactory.planning.rollout import DEFAULT_FORKS, RolloutPlan, StepCosts, plan_rollout
from gigafactory.site import load_site

_DEFAULT = StepCosts()


class Format(StrEnum):
    table = "table"
    json = "json"


class Mode(StrEnum):
    parallel = "parallel"
    serial = "serial"


def _minutes(help_text: str) -> Any:
    return typer.Option(min=0.0, max=10_000.0, help=f"{help_text} (minutes per node).")


def _hours(minutes: float) -> str:
    return f"{minutes / 60:.1f} h"


def plan_dict(plan: RolloutPlan) -> dict[str, Any]:
    return {
        "site": plan.site,
        "mode": plan.mode,
        "canary_racks": plan.canary_racks,
        "batch_racks": plan.batch_racks,
        "forks": plan.forks,
        "costs": asdict(plan.costs),
        "batch_count": plan.batch_count,
        "minutes": plan.minutes,
        "max_gpus_out": plan.max_gpus_out,
        "window_hours": plan.window_hours,
        "fits_window": plan.fits_window,
        "suggestion": (
            {"batch_racks": plan.suggestion[0], "forks": plan.suggestion[1]} if plan.suggestion else None
        ),
        "clusters": [
            {
                "cluster": c.cluster,
                "minutes": c.minutes,
                "max_gpus_out": c.max_gpus_out,
                "batches": [{**asdict(b), "racks": list(b.racks)} for b in c.batches],
            }
            for c in plan.clusters
        ],
    }


def rollout_plan_cmd(
    site_file: Annotated[Path, typer.Argument(help="Site file, e.g. sites/narvik.yaml.", show_default=False)],
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="Only this cluster.")] = None,
    drain: Annotated[float, _minutes("Drain: cordon and evict")] = _DEFAULT.drain,
    install: Annotated[float, _minutes("Package install")] = _DEFAULT.install,
    reboot: Annotated[float, _minutes("Reboot until Ready")] = _DEFAULT.reboot,
    health: Annotated[float, _minutes("Health checks")] = _DEFAULT.health,
    burnin: Annotated[float, _minutes("Burn-in")] = _DEFAULT.burnin,
    batch_overhead: Annotated[
        float, typer.Option(min=0.0, max=10_000.0, help="Fixed minutes per batch (cordon, uncordon, checks).")
    ] = _DEFAULT.batch_overhead,
    controller: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1_000.0,
            help="Controller minutes per node of a batch (task dispatch, kubectl calls).",
        ),
    ] = _DEFAULT.controller,
    canary_racks: Annotated[int, typer.Option(min=0, max=1000, help="Racks in the canary batch.")] = 1,
    batch_racks: Annotated[
        int | None,
        typer.Option(
            min=1, max=100_000, help="Racks per batch (default: one scalable unit).", show_default=False
        ),
    ] = None,
    forks: Annotated[
        int, typer.Option(min=1, max=100_000, help="Hosts the controller handles at once.")
    ] = DEFAULT_FORKS,
    mode: Annotated[Mode, typer.Option(help="Clusters side by side or one after another.")] = Mode.parallel,
    window: Annotated[float, typer.Option(min=0.1, max=10_000.0, help="Maintenance window (hours).")] = 24.0,
    all_batches: Annotated[bool, typer.Option("--batches", help="List every batch.")] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Batches (canary rack first, whole racks, never across a scalable unit), batch count,
    wall time and GPUs out of service for a rollout of the site. Exit 0, or 2 on bad input."""
    site = load_site(site_file)
    costs = StepCosts(drain, install, reboot, health, burnin, batch_overhead, controller)
    plan = plan_rollout(
        site,
        cluster,
        costs=costs,
        canary_racks=canary_racks,
        batch_racks=batch_racks,
        forks=forks,
        mode=mode.value,
        window_hours=window,
    )
    if fmt is Format.json:
        typer.echo(json.dumps(plan_dict(plan), indent=2))
        return
    console = Console()
    table = Table(title=f"Rollout plan: {plan.site} ({plan.mode})")
    for col in ("cluster", "batches", "wall time", "max GPUs out"):
        table.add_column(col, justify="right" if col != "cluster" else "left")
    for c in plan.clusters:
        table.add_row(c.cluster, str(len(c.batches)), _hours(c.minutes), str(c.max_gpus_out))
    console.print(table)
    if all_batches:
        batches = Table(title="Batches")
        for col in ("cluster", "#", "pool", "racks", "nodes", "GPUs", "minutes"):
            batches.add_column(col)
        for c in plan.clusters:
            for b in c.batches:
                racks = b.racks[0] if len(b.racks) == 1 else f"{b.racks[0]} .. {b.racks[-1]} ({len(b.racks)})"
                label = f"{b.index} canary" if b.canary else str(b.index)
                batches.add_row(c.cluster, label, b.pool, racks, str(b.nodes), str(b.gpus), f"{b.minutes:g}")
        console.print(batches)
    per_node = costs.per_node()
    console.print(
        f"{plan.batch_count} batches of up to {plan.batch_racks} racks (canary {plan.canary_racks}), "
        f"{per_node:g} min per node, forks {plan.forks}, controller {costs.controller * 60:g} s per node "
        f"and {costs.batch_overhead:g} min per batch: {_hours(plan.minutes)} wall time; "
        f"at most {plan.max_gpus_out} GPUs out of service at once."
    )
    verdict = "fits" if plan.fits_window else "does not fit"
    console.print(f"The rollout {verdict} a {window:g} h window.")
    if plan.suggestion is None:
        console.print("No SU-aligned batch size fits the window; shorten the steps or widen the window.")
    elif not plan.fits_window or plan.suggestion[0] != plan.batch_racks:
        size, needed = plan.suggestion
        console.print(f"Smallest batch that fits: {size} racks per batch, with forks >= {needed}.")


def register(app: typer.Typer) -> None:
    app.command("rollout-plan")(rollout_plan_cmd)


__all__ = ["plan_dict", "register"]
