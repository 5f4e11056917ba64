"""The body of the Pulumi program, shared by ``__main__.py`` (``pulumi up``) and the engine
the CLI drives through the Automation API (an inline program): one stack, one GpuCluster."""

from __future__ import annotations

from pathlib import Path

import pulumi

from components.cluster import GpuCluster, GpuClusterArgs
from gigafactory.stack.config import StackConfig
from gigafactory.stack.render import resolve_target


def program(settings: StackConfig, root: Path) -> GpuCluster:
    """Build the stack's platform from its typed config and export what it made.
    ``root`` is the project folder (site files are relative to it)."""
    site, cluster = resolve_target(settings.site, settings.cluster, settings.platform, root)
    platform = GpuCluster(
        f"{site.name}-{cluster.name}",
        GpuClusterArgs(
            site=site,
            cluster=cluster,
            host_drivers=settings.host_drivers,
            api_server_cidrs=list(settings.api_server_cidrs),
            ib_subnet=settings.ib_subnet,
            nfs_server=settings.nfs_server,
            nfs_share=settings.nfs_share,
            provided=frozenset(settings.provided),
            keep_tenant_namespaces=settings.keep_tenant_namespaces,
        ),
    )
    pulumi.export("pools", platform.pools)
    pulumi.export("installed", platform.installed)
    for key, value in platform.summary.items():
        pulumi.export(key, value)
    return platform
