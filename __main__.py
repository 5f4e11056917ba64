"""The Pulumi program: read the stack config, build one GpuCluster, export what it made."""

from __future__ import annotations

from pathlib import Path

import pulumi

from components.cluster import GpuCluster, GpuClusterArgs
from gigafactory.stack.render import resolve_target

config = pulumi.Config()
site, cluster = resolve_target(
    site_file=config.require("site"),
    cluster_name=config.require("cluster"),
    platform=config.get("platform") or None,
    root=Path(__file__).resolve().parent,
)
platform = GpuCluster(
    f"{site.name}-{cluster.name}",
    GpuClusterArgs(
        site=site,
        cluster=cluster,
        host_drivers=config.get_bool("hostDrivers", True),
        api_server_cidrs=config.get_object("apiServerCidrs") or [],
        ib_interface=config.get("ibInterface") or "ib0",
        ib_subnet=config.get("ibSubnet") or "100.64.0.0/16",
        nfs_server=config.get("nfsServer") or "",
        nfs_share=config.get("nfsShare") or "/export/gigafactory",
    ),
)

pulumi.export("pools", platform.pools)
pulumi.export("installed", platform.installed)
for key, value in platform.summary.items():
    pulumi.export(key, value)
