"""`gigafactory render`: the offline plan of a Pulumi stack (mock runtime, no cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gigafactory.stack.output import check_target
from gigafactory.stack.render import ManifestValidationError, render_stack

StackOpt = Annotated[str, typer.Option("--stack", "-s", help="Stack name: stacks/Pulumi.<stack>.yaml.")]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Output folder (default: out/<stack>).", show_default=False),
]


def render_cmd(stack: StackOpt, out: OutOpt = None) -> None:
    """Run the Pulumi program of a stack under mocks; write resources.json, manifests/ and
    releases/; validate objects against the Kubernetes schemas.
    Exit 0, 1 when an object fails its schema, 2 on bad stack config or an --out that is a
    file, a link, or a non-empty folder that is not an earlier render (whose files are the only
    ones a render replaces); the folder appears only once complete."""
    target = out if out is not None else Path("out") / stack
    check_target(target)  # a file, a link or a folder of other files: refuse before rendering
    try:
        result = render_stack(stack, target)
    except ManifestValidationError as exc:
        for line in exc.errors:
            typer.echo(f"gigafactory: invalid object: {line}", err=True)
        raise typer.Exit(1) from None
    releases = sum(1 for r in result.resources if r["type"] == "kubernetes:helm.sh/v3:Release")
    components = sum(1 for r in result.resources if r["type"].startswith("gigafactory:"))
    typer.echo(
        f"{stack}: site {result.site}, cluster {result.cluster} ({result.platform}): "
        f"{len(result.resources)} resources ({components} components, {releases} Helm releases) -> {target}"
    )


def register(app: typer.Typer) -> None:
    app.command("render")(render_cmd)
