"""`gigafactory inventory`: the site's Ansible inventory in the shape of `ansible-inventory --list`."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import yaml

from gigafactory.baremetal.inventory import build
from gigafactory.site import load_site
from gigafactory.site.load import address_plan_fits


class InventoryFormat(StrEnum):
    json = "json"
    yaml = "yaml"


def inventory(
    site_file: Annotated[Path, typer.Argument(help="Site file, e.g. sites/narvik.yaml.", show_default=False)],
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="Only this cluster.")] = None,
    fmt: Annotated[
        InventoryFormat, typer.Option("--format", "-f", help="Output format.")
    ] = InventoryFormat.json,
) -> None:
    """Print the inventory: groups with hosts and children, and _meta.hostvars."""
    site = load_site(site_file)
    if cluster is not None:
        site.cluster(cluster)  # NotFoundError names the clusters there are
    address_plan_fits(site)  # never print hosts whose addresses fall outside their hall's network
    data = build(site, cluster).ansible_list()
    if fmt is InventoryFormat.yaml:
        typer.echo(
            yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False), nl=False
        )
    else:
        typer.echo(json.dumps(data, indent=1))


def register(app: typer.Typer) -> None:
    app.command("inventory")(inventory)
