"""ONE simulator of Narvik cluster c1 at full size (4,256 nodes) for the whole test session.

Marked ``scale``: they run in CI with the rest (`make test`); `-m "not scale"` leaves them out
on a laptop. Without the toolchain they skip locally and fail in CI (env CI set). Bringing c1
up costs minutes of a 2-core machine: every test here shares the one simulator, and each test
cleans up its own namespaces and queues so the next one starts with the cluster free.

``GIGAFACTORY_SCALE_KEEP=1`` leaves the simulator running after the session (and reuses a
running one: `sim up` of a running simulator only checks its nodes); `gigafactory sim down
--stack narvik-c1` removes it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from kubernetes import client

from gigafactory.sim import cluster as sim
from gigafactory.sim import placement
from gigafactory.site.model import Cluster, Site
from tests.conftest import require_toolchain
from tests.sim.conftest import BINARIES

STACK = "narvik-c1"
KEEP = "GIGAFACTORY_SCALE_KEEP"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "scale: needs the full-size simulator of narvik-c1 (minutes)")


@dataclass
class Scale:
    stack: str
    site: Site
    cluster: Cluster
    api: client.ApiClient
    labels: dict[str, dict[str, str]]
    """Node name -> labels, from the model."""


@pytest.fixture(scope="session")
def c1() -> Iterator[Scale]:
    require_toolchain(*BINARIES)
    site, cluster = sim.target(STACK)
    keep = bool(os.environ.get(KEEP))
    try:
        sim.up(STACK)
        with sim.api_client(STACK) as api:
            # The stack's Kueue objects from the specs the components use (gigafactory.site.kueue):
            # flavor, topology and the pool's queue, before any tenant is onboarded (the queue
            # owns all the pool's GPUs; c1's own tenant would own them all). Tenants are made
            # per test. `update`: a kept simulator gets today's specs.
            placement.apply(api, placement.cluster_objects(cluster, []), update=True)
            yield Scale(STACK, site, cluster, api, placement.node_labels(cluster))
    finally:
        if not keep:
            sim.down(STACK)
