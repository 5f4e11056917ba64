"""The report both `plan` and `check` print: one JSON shape, one table layout."""

from __future__ import annotations

from typing import Any

from gigafactory.planning.plan import SitePlan
from gigafactory.policy.rule import Violation


def _mw(x: float) -> float:
    return round(x, 3)


def report_dict(plan: SitePlan, violations: list[Violation]) -> dict[str, Any]:
    """The documented JSON shape of `gigafactory plan` and `gigafactory check`."""
    return {
        "site": plan.site,
        "phase": plan.phase,
        "totals": {
            "gpus": plan.gpus,
            "nodes": plan.nodes,
            "racks": plan.racks,
            "it_mw": _mw(plan.it_mw),
            "facility_mw": _mw(plan.facility_mw),
            "envelope_mw": _mw(plan.envelope_mw),
            "headroom_mw": _mw(plan.headroom_mw),
        },
        "grid": {
            "zone": plan.zone,
            "carbon_g_per_kwh": plan.carbon_g_per_kwh,
            "renewable_share": plan.renewable_share,
        },
        "clusters": [
            {
                "name": c.name,
                "nodes": c.nodes,
                "gpus": c.gpus,
                "racks": c.racks,
                "it_mw": _mw(c.it_mw),
                "pools": [
                    {
                        "name": p.name,
                        "role": p.role,
                        "sku": p.sku,
                        "hall": p.hall,
                        "nodes": p.nodes,
                        "gpus": p.gpus,
                        "racks": p.racks,
                        "scalable_units": round(p.scalable_units, 3),
                    }
                    for p in c.pools
                ],
                "fabric": {
                    "switch": c.fabric.switch,
                    "radix": c.fabric.radix,
                    "endpoints": c.fabric.design_endpoints,
                    "tiers": c.fabric.tiers,
                    "leaf": c.fabric.leaf,
                    "spine": c.fabric.spine,
                    "core": c.fabric.core,
                    "switches": c.fabric.switches,
                    "cables": c.fabric.cables,
                },
            }
            for c in plan.clusters
        ],
        "violations": [v.as_dict() for v in violations],
    }


def print_tables(plan: SitePlan, violations: list[Violation], *, title: str) -> None:
    """Human-readable report with rich (imported here: JSON output does not pay for it)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # piped or captured: do not squeeze columns into 80
    head = Table(title=f"{title}: site {plan.site}, phase {plan.phase}", show_header=False)
    head.add_column(style="bold")
    head.add_column(justify="right")
    head.add_row("GPUs / nodes / racks", f"{plan.gpus:,} / {plan.nodes:,} / {plan.racks:,}")
    head.add_row("IT power", f"{plan.it_mw:,.3f} MW")
    head.add_row(f"Facility power (x PUE {plan.design_pue:g})", f"{plan.facility_mw:,.3f} MW")
    head.add_row("Envelope / headroom", f"{plan.envelope_mw:,.3f} MW / {plan.headroom_mw:,.3f} MW")
    head.add_row(
        "Grid", f"{plan.zone}: {plan.carbon_g_per_kwh:g} g CO2eq/kWh, {plan.renewable_share:.0%} renewable"
    )
    console.print(head)

    pools = Table(title="Clusters and pools")
    for col in ("cluster", "pool", "role", "sku", "hall", "nodes", "GPUs", "racks", "SUs"):
        pools.add_column(col, justify="right" if col in ("nodes", "GPUs", "racks", "SUs") else "left")
    for c in plan.clusters:
        for p in c.pools:
            pools.add_row(
                c.name,
                p.name,
                p.role,
                p.sku,
                p.hall,
                f"{p.nodes:,}",
                f"{p.gpus:,}",
                f"{p.racks:,}",
                f"{p.scalable_units:g}",
            )
        pools.add_row(
            c.name,
            "[bold]total",
            "",
            "",
            "",
            f"{c.nodes:,}",
            f"{c.gpus:,}",
            f"{c.racks:,}",
            "",
            end_section=True,
        )
    console.print(pools)

    fabric = Table(title="Compute fabric per cluster (non-blocking fat tree)")
    for col in (
        "cluster",
        "switch",
        "radix",
        "endpoints",
        "tiers",
        "leaf",
        "spine",
        "core",
        "switches",
        "cables",
    ):
        fabric.add_column(col, justify="left" if col in ("cluster", "switch") else "right")
    for c in plan.clusters:
        f = c.fabric
        fabric.add_row(
            c.name,
            f.switch,
            str(f.radix),
            f"{f.design_endpoints:,}",
            str(f.tiers),
            f"{f.leaf:,}",
            f"{f.spine:,}",
            f"{f.core:,}",
            f"{f.switches:,}",
            f"{f.cables:,}",
        )
    console.print(fabric)

    if not violations:
        console.print("[green]No policy violations.[/green]")
        return
    table = Table(title="Policy violations")
    for col in ("level", "rule", "subject", "message"):
        table.add_column(col, overflow="fold")
    for v in violations:
        style = "red" if v.level == "mandatory" else "yellow"
        table.add_row(f"[{style}]{v.level}", v.rule, v.subject, v.message)
    console.print(table)
