"""Pins: one visible place (components/versions.py), kept equal to what it mirrors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from components import versions
from tests.conftest import REPO

COMPONENTS = REPO / "components"


def test_tenant_chart_version_matches_chart_yaml() -> None:
    chart = yaml.safe_load((REPO / "charts" / "tenant" / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart["version"] == versions.TENANT_CHART_VERSION, "bump components/versions.py with the chart"


@pytest.mark.parametrize("path", sorted(COMPONENTS.glob("*.py")), ids=lambda p: p.name)
def test_components_never_parse_yaml(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"^\s*(import yaml|from yaml)", text, re.M), f"{path}: components never parse YAML"


@pytest.mark.parametrize("path", sorted(COMPONENTS.glob("*.py")), ids=lambda p: p.name)
def test_versions_are_only_pinned_in_versions_py(path: Path) -> None:
    """No chart version literal (x.y.z) outside versions.py."""
    if path.name == "versions.py":
        return
    text = path.read_text(encoding="utf-8")
    assert not re.search(r'version\s*=\s*"v?\d+\.\d+\.\d+"', text), f"{path}: pin versions in versions.py"
