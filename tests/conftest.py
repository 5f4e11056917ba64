"""Shared fixtures: the reference sites as mutable dicts, and a writer for site files."""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
NARVIK = REPO / "sites" / "narvik.yaml"
KIND = REPO / "sites" / "kind.yaml"


@functools.cache
def _raw(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def site_data(path: Path = NARVIK) -> dict[str, Any]:
    """A fresh deep copy of a reference site, to mutate in a test."""
    return copy.deepcopy(_raw(path))


@pytest.fixture
def narvik_data() -> dict[str, Any]:
    return site_data(NARVIK)


@pytest.fixture
def kind_data() -> dict[str, Any]:
    return site_data(KIND)


@pytest.fixture
def write_site(tmp_path: Path) -> Callable[[Any], Path]:
    """Write data (a dict, or raw text) to a site file and return its path."""
    counter = iter(range(1_000_000))

    def write(data: Any) -> Path:
        path = tmp_path / f"site-{next(counter)}.yaml"
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write


def require_toolchain(*binaries: str) -> None:
    """Skip (locally) or fail (CI) when a toolchain binary or Kueue's generated manifests are
    missing: CI builds the toolchain first, so there a missing piece is a failure."""
    from gigafactory import toolchain

    try:
        for name in binaries:
            toolchain.binary(name)
        toolchain.kueue_manifests()
    except toolchain.ToolchainMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must build the toolchain first: {exc}")
        pytest.skip(str(exc))
