"""The simulator brought up once per test session, in a private state folder.

The tests need the toolchain (`make toolchain`): without it they skip on a developer machine
and fail in CI (env CI set), where `.ci/run` builds it before `make test`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gigafactory.sim import cluster as sim
from gigafactory.site.model import Cluster, Site
from tests.conftest import require_toolchain

STACK = "sim"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kueue")


@dataclass
class Sim:
    """The session's simulator of stack ``sim``."""

    stack: str
    site: Site
    cluster: Cluster
    root: Path

    def ensure_up(self) -> sim.SimStatus:
        """Up (idempotent: only checks the nodes when it already runs)."""
        return sim.up(self.stack)

    @property
    def folder(self) -> Path:
        return sim.state_dir(self.stack)


@pytest.fixture(scope="session")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    require_toolchain(*BINARIES)
    root = tmp_path_factory.mktemp("sim-state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(sim.ENV_DIR, str(root))
        site, cluster = sim.target(STACK)
        handle = Sim(STACK, site, cluster, root)
        try:
            handle.ensure_up()
            yield handle
        finally:
            sim.down(STACK)
