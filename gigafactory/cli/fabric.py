"""`gigafactory fabric-partitions`: the InfiniBand partitions (one pkey per tenant) as the
subnet manager's partitions.conf."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gigafactory.baremetal.fabric import partitions_conf
from gigafactory.site import load_site


def fabric_partitions(
    site_file: Annotated[Path, typer.Argument(help="Site file, e.g. sites/narvik.yaml.", show_default=False)],
    cluster: Annotated[
        str | None,
        typer.Option("--cluster", "-c", help="Cluster (fabric plane); default: every cluster of the site."),
    ] = None,
) -> None:
    """Print partitions.conf for OpenSM / UFM: the default partition and one partition per
    tenant with its pkey. Port GUIDs are not in the site model: each tenant partition holds the
    subnet manager's port, and the candidate nodes are comments (see docs). Exit 0, or 2 for a
    bad site file or an unknown cluster."""
    site = load_site(site_file)
    typer.echo(partitions_conf(site, cluster), nl=False)


def register(app: typer.Typer) -> None:
    app.command("fabric-partitions")(fabric_partitions)
