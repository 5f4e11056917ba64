"""Fixtures for the chart tests: a real, pinned `helm`, and renderers over it.

The helm binary comes from scripts/setup-helm.sh (built from the Go module proxy, cached
under .cache/bin). A missing or wrong helm is a test failure, never a skip: these tests
are the only check the charts get.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from tests.charts.rendering import (
    HELM_ENV,
    NAMESPACE,
    SETUP_HELM,
    Manifest,
    Render,
    RenderError,
    pinned_helm_version,
    run_helm,
    template_args,
)


@pytest.fixture(scope="session")
def helm() -> Path:
    """Path of the pinned helm: $GIGAFACTORY_HELM, else built/located by setup-helm.sh."""
    override = os.environ.get(HELM_ENV)
    if override:
        path = Path(override)
    else:
        proc = subprocess.run([str(SETUP_HELM)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            pytest.fail(
                f"scripts/setup-helm.sh failed (exit {proc.returncode}):\n{proc.stderr}", pytrace=False
            )
        path = Path(proc.stdout.strip().splitlines()[-1])
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"helm not found at {path}: run scripts/setup-helm.sh", pytrace=False)
    version = subprocess.run(
        [str(path), "version", "--template", "{{.Version}}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if version != pinned_helm_version():
        pytest.fail(f"{path} is helm {version}, the pin is {pinned_helm_version()}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def render(helm: Path) -> Render:
    """render(chart, values=[fixture files], sets={key: value}) -> rendered objects."""

    def _render(
        chart: str,
        values: Sequence[str] = (),
        sets: dict[str, object] | None = None,
        namespace: str = NAMESPACE,
    ) -> list[Manifest]:
        result = run_helm(helm, template_args(chart, values, sets, namespace))
        assert result.returncode == 0, f"helm template {chart} {list(values)} {sets} failed:\n{result.stderr}"
        docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        assert all(isinstance(doc, dict) for doc in docs)
        return docs

    return _render


@pytest.fixture(scope="session")
def render_error(helm: Path) -> RenderError:
    """render_error(chart, values, sets) -> helm's error output; asserts the render failed."""

    def _render_error(chart: str, values: Sequence[str] = (), sets: dict[str, object] | None = None) -> str:
        result = run_helm(helm, template_args(chart, values, sets))
        assert result.returncode != 0, f"helm template {chart} {list(values)} {sets} rendered but should fail"
        return result.stderr

    return _render_error
