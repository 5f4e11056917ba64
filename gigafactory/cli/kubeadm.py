"""`gigafactory kubeadm-config`: the kubeadm configuration of a bare-metal cluster's node."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gigafactory.baremetal.kubeadm import documents, dump
from gigafactory.site import load_site


def kubeadm_config(
    site_file: Annotated[Path, typer.Argument(help="Site file, e.g. sites/narvik.yaml.", show_default=False)],
    cluster: Annotated[str, typer.Option("--cluster", "-c", help="Cluster name.", show_default=False)],
    node: Annotated[
        str | None,
        typer.Option("--node", "-n", help="Node name; default: the first control-plane host (kubeadm init)."),
    ] = None,
    cgroup_v1: Annotated[
        bool,
        typer.Option("--allow-cgroup-v1", help="Let kubelet run on cgroup v1 hosts (failCgroupV1: false)."),
    ] = False,
) -> None:
    """Print the kubeadm v1beta4 documents (YAML) for a node: Init-, Cluster- and
    KubeletConfiguration for the first control plane, a JoinConfiguration for any other node,
    carrying its pool's labels and taints. No token or certificate key is ever printed.
    Exit 0, or 2 for an unknown cluster or node."""
    site = load_site(site_file)
    docs = documents(site, site.cluster(cluster), node, fail_cgroup_v1=not cgroup_v1)
    typer.echo(dump(docs), nl=False)


def register(app: typer.Typer) -> None:
    app.command("kubeadm-config")(kubeadm_config)
