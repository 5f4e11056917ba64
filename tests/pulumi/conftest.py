"""Helpers for the Pulumi program's tests: every stack rendered once per session under
Pulumi's mock runtime, and finders over the recorded resources."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any

import yaml

from gigafactory.stack.config import stacks
from gigafactory.stack.render import RenderResult, render_stack
from tests.conftest import REPO

NARVIK_STACKS = [f"narvik-c{i}" for i in range(1, 7)]
LAPTOP_STACKS = ["kind", "minikube"]
# The simulator's stacks (KWOK; Kueue, GPUs, CNI and observability provided): the laptop site, and
# Narvik's cluster c1 at full size.
SIM_STACKS = ["sim", "narvik-c1-sim"]
ALL_STACKS = LAPTOP_STACKS + SIM_STACKS + NARVIK_STACKS
# Stacks that install every part themselves (no `gigafactory:provided`).
INSTALLING_STACKS = LAPTOP_STACKS + NARVIK_STACKS
RELEASE = "kubernetes:helm.sh/v3:Release"


@functools.cache
def rendered(stack: str) -> RenderResult:
    """The stack's offline plan (cached: rendering is deterministic)."""
    return render_stack(stack)


def of_type(result: RenderResult | list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    resources = result.resources if isinstance(result, RenderResult) else result
    return [r for r in resources if r["type"] == type_]


def kind_of(result: RenderResult | list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Plain or custom Kubernetes objects of ``kind``."""
    resources = result.resources if isinstance(result, RenderResult) else result
    return [r for r in resources if r["inputs"].get("kind") == kind and r["type"].startswith("kubernetes:")]


def named(resources: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The one object whose metadata.name is ``name`` (fails naming what exists)."""
    hits = [r for r in resources if r["inputs"].get("metadata", {}).get("name") == name]
    names = [r["inputs"].get("metadata", {}).get("name") for r in resources]
    assert len(hits) == 1, f"expected one object named {name!r}, found {len(hits)} among {names}"
    return hits[0]


def releases(result: RenderResult | list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Helm releases by Helm release name."""
    return {r["inputs"]["name"]: r for r in of_type(result, RELEASE)}


def make_project(tmp: Path, stack: str, config: dict[str, Any]) -> Path:
    """A throwaway Pulumi project (the real Pulumi.yaml and __main__.py) with one stack."""
    shutil.copy(REPO / "Pulumi.yaml", tmp / "Pulumi.yaml")
    shutil.copy(REPO / "__main__.py", tmp / "__main__.py")
    (tmp / "stacks").mkdir(exist_ok=True)
    (tmp / "stacks" / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}), encoding="utf-8")
    return tmp


__all__ = ["ALL_STACKS", "LAPTOP_STACKS", "NARVIK_STACKS", "REPO", "stacks"]
