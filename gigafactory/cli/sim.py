"""`gigafactory sim up|down|status|kubeconfig`: the local simulator of a stack (docs/sim.md).

Exit codes: 0 ok; 1 the simulator failed to come up (the message names the process and its
log); 2 bad input (unknown stack, toolchain not built, a state folder that is not ours).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="A real control plane on 127.0.0.1 with one simulated node per node of a stack's cluster.",
    no_args_is_help=True,
)

StackOpt = Annotated[str, typer.Option("--stack", "-s", help="Stack name: stacks/Pulumi.<stack>.yaml.")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table or json.")]
FORMATS = ("table", "json")


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@app.command("up")
def up_cmd(stack: StackOpt = "sim") -> None:
    """Start etcd, the API server, controller manager, scheduler, KWOK and Kueue on loopback,
    create the stack's nodes and wait until every one is Ready."""
    from gigafactory.sim import cluster as sim  # on use: the kubernetes client is slow to import

    try:
        result = sim.up(stack, progress=_progress)
    except sim.SimUpFailed as exc:
        print(f"gigafactory: error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    ready = sum(p.ready for p in result.pools)
    typer.echo(
        f"sim {stack}: {ready}/{sum(p.planned for p in result.pools)} nodes Ready at {result.api_server}"
    )
    typer.echo("Use it with:")
    typer.echo(f"  export KUBECONFIG={result.kubeconfig}")
    typer.echo("  kubectl get nodes -L gigafactory.io/pool")
    typer.echo(f"Stop it with: gigafactory sim down --stack {stack}")


@app.command("down")
def down_cmd(stack: StackOpt = "sim") -> None:
    """Stop every process the simulator started (by pid) and remove its state."""
    from gigafactory.sim import cluster as sim  # on use: the kubernetes client is slow to import

    stopped = sim.down(stack, progress=_progress)
    typer.echo(
        f"sim {stack}: stopped {len(stopped)} processes" if stopped else f"sim {stack}: nothing running"
    )


@app.command("status")
def status_cmd(stack: StackOpt = "sim", fmt: FormatOpt = "table") -> None:
    """Processes, and nodes per pool Ready vs planned. Exit 0 when everything is up and Ready,
    1 otherwise."""
    from gigafactory.sim import cluster as sim  # on use: the kubernetes client is slow to import

    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r}; allowed: {', '.join(FORMATS)}", param_hint="--format")
    result = sim.status(stack)
    if fmt == "json":
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        console = Console()
        table = Table(title=f"sim {stack}: site {result.site}, cluster {result.cluster}")
        for column in ("pool", "planned", "present", "Ready"):
            table.add_column(column, justify="left" if column == "pool" else "right")
        for pool in result.pools:
            table.add_row(pool.pool, str(pool.planned), str(pool.present), str(pool.ready))
        console.print(table)
        procs = ", ".join(f"{name} {'running' if ok else 'DOWN'}" for name, ok in result.processes.items())
        console.print(f"processes: {procs or 'none (not up)'}")
        console.print(f"kubeconfig: {result.kubeconfig}")
    if not result.ready:
        raise typer.Exit(1)


@app.command("kubeconfig")
def kubeconfig_cmd(stack: StackOpt = "sim") -> None:
    """Print the path of the simulator's admin kubeconfig (stable across restarts)."""
    from gigafactory.sim import cluster as sim  # on use: the kubernetes client is slow to import

    sim.target(stack)
    typer.echo(str(sim.kubeconfig_path(stack)))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="sim")
