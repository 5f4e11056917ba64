"""Helpers for the chart tests: run helm, render a chart, pick objects out of a render."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "charts"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SETUP_HELM = REPO / "scripts" / "setup-helm.sh"
# Environment variable naming a helm binary to use instead of building one.
HELM_ENV = "GIGAFACTORY_HELM"
RELEASE = "acc"
NAMESPACE = "burnin"

Manifest = dict[str, Any]
# render(chart, values=[fixture files], sets={key: value}) -> rendered objects
Render = Callable[..., list[Manifest]]
# render_error(chart, values, sets) -> helm's error output
RenderError = Callable[..., str]


def pinned_helm_version() -> str:
    """The HELM_VERSION=... pin of scripts/setup-helm.sh (the one place it lives)."""
    match = re.search(r"^HELM_VERSION=(\S+)$", SETUP_HELM.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"no HELM_VERSION= line in {SETUP_HELM}"
    return match.group(1)


@dataclass(frozen=True)
class HelmResult:
    """Outcome of one helm command."""

    returncode: int
    stdout: str
    stderr: str


def run_helm(helm: Path, args: Sequence[str]) -> HelmResult:
    proc = subprocess.run([str(helm), *args], capture_output=True, text=True, check=False, cwd=REPO)
    return HelmResult(proc.returncode, proc.stdout, proc.stderr)


def template_args(
    chart: str, values: Sequence[str] = (), sets: dict[str, object] | None = None, namespace: str = NAMESPACE
) -> list[str]:
    """Arguments of `helm template` for a chart under charts/, fixture files and values to set.

    Each set value is passed JSON-encoded (--set-json), so types survive: 18 stays an
    integer, [] an empty list, "" an empty string.
    """
    args = ["template", RELEASE, str(CHARTS / chart), "--namespace", namespace]
    for name in values:
        args += ["--values", str(FIXTURES / name)]
    for key, value in (sets or {}).items():
        args += ["--set-json", f"{key}={json.dumps(value)}"]
    return args


def by_kind(docs: list[Manifest], kind: str) -> list[Manifest]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    """The single object of a kind (and name, if given); fails naming what was found."""
    found = [d for d in by_kind(docs, kind) if name is None or d["metadata"]["name"] == name]
    names = [d["metadata"]["name"] for d in by_kind(docs, kind)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {names}"
    return found[0]


def load_values(chart: str) -> Manifest:
    data = yaml.safe_load((CHARTS / chart / "values.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data
