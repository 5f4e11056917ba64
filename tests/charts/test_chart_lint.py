"""`helm lint --strict` of each chart with each of its fixtures (schema and templates)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.charts.rendering import CHARTS, FIXTURES, run_helm

CASES = [
    ("gpu-burnin", "gpu-burnin-rack.yaml"),
    ("gpu-burnin", "gpu-burnin-multinode.yaml"),
    ("gpu-burnin", "gpu-burnin-su.yaml"),
    ("tenant", "tenant-alpha.yaml"),
    ("tenant", "tenant-minimal.yaml"),
]


@pytest.mark.parametrize(("chart", "fixture"), CASES)
def test_chart_lints_clean_with_fixture(helm: Path, chart: str, fixture: str) -> None:
    result = run_helm(helm, ["lint", "--strict", str(CHARTS / chart), "--values", str(FIXTURES / fixture)])
    assert result.returncode == 0, f"helm lint {chart} -f {fixture}:\n{result.stdout}{result.stderr}"
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("chart", ["gpu-burnin", "tenant"])
def test_lint_rejects_a_value_the_schema_does_not_know(helm: Path, chart: str) -> None:
    result = run_helm(helm, ["lint", "--strict", str(CHARTS / chart), "--set", "noSuchValue=1"])
    assert result.returncode != 0
    assert "noSuchValue" in result.stdout + result.stderr


@pytest.mark.parametrize("chart", ["gpu-burnin", "tenant"])
def test_chart_has_the_standard_shape(chart: str) -> None:
    root = CHARTS / chart
    for required in ("Chart.yaml", "values.yaml", "values.schema.json", "templates/_helpers.tpl"):
        assert (root / required).is_file(), f"{chart} lacks {required}"
    text = (root / "Chart.yaml").read_text(encoding="utf-8")
    assert "\nversion: " in text and "\nappVersion: " in text, (
        f"{chart}/Chart.yaml needs version and appVersion"
    )
