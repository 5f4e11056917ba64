"""The real engine against the local simulator: one simulator and one `gigafactory up --stack sim`
shared by the module, in private state folders (the user's stacks and simulators are untouched).

The tests need the toolchain (`make toolchain`: the Pulumi CLI, the Kubernetes provider and the
simulator's binaries): without it they skip on a developer machine and fail in CI (env CI set).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gigafactory.sim import cluster as sim
from gigafactory.stack.engine import ENV_STATE_DIR
from tests.conftest import REPO, require_toolchain

STACK = "sim"
BINARIES = (
    "pulumi",
    "pulumi-resource-kubernetes",
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kueue",
)
CLI_TIMEOUT = 300


@dataclass
class Run:
    """One `gigafactory` command: exit code, output, wall time."""

    rc: int
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Engine:
    """The module's simulator and engine state folders, and a way to run the CLI against them."""

    env: dict[str, str]
    up: Run
    """The first `gigafactory up --stack sim --yes`, on an empty simulator."""

    def gigafactory(self, *args: str, project: Path = REPO) -> Run:
        started = time.monotonic()
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "from gigafactory.cli import main; main()",
                "--project-dir",
                str(project),
                *args,
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=self.env,
            timeout=CLI_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


@pytest.fixture(scope="package")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    require_toolchain(*BINARIES)
    sim_root = tmp_path_factory.mktemp("sim-state")
    state = tmp_path_factory.mktemp("engine-state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(sim.ENV_DIR, str(sim_root))
        mp.setenv(ENV_STATE_DIR, str(state))
        mp.delenv("PULUMI_BACKEND_URL", raising=False)
        mp.delenv("KUBECONFIG", raising=False)
        env = dict(os.environ)
        try:
            sim.up(STACK)
            handle = Engine(env=env, up=Run(0, "", "", 0.0))
            handle.up = handle.gigafactory("up", "--stack", STACK, "--yes")
            yield handle
        finally:
            sim.down(STACK)
