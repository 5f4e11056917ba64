"""`gigafactory plan` and `gigafactory check`: exit codes, JSON shape, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from gigafactory.cli import app
from tests.conftest import KIND, NARVIK, REPO, site_data

runner = CliRunner()
Writer = Callable[[Any], Path]


def _run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_plan_json_shape_and_figures() -> None:
    res = _run("plan", str(NARVIK), "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc) == {"site", "phase", "totals", "grid", "clusters", "violations"}
    assert {"gpus", "nodes", "racks", "it_mw", "facility_mw", "envelope_mw"} <= set(doc["totals"])
    assert set(doc["grid"]) == {"zone", "carbon_g_per_kwh", "renewable_share"}
    c1 = doc["clusters"][0]
    assert {"name", "nodes", "gpus", "racks", "pools", "fabric"} <= set(c1)
    assert {"name", "sku", "nodes", "gpus", "racks"} <= set(c1["pools"][0])
    assert {"radix", "tiers", "leaf", "spine", "core", "switches"} <= set(c1["fabric"])
    # 1,384 GB300 racks x 72 GPUs; 208.176 MW IT x 1.10 = 228.994 MW (rounded to kW)
    assert doc["totals"]["gpus"] == 1384 * 72
    assert doc["totals"]["facility_mw"] == 228.994
    assert (c1["fabric"]["leaf"], c1["fabric"]["spine"], c1["fabric"]["core"], c1["fabric"]["switches"]) == (
        232,
        232,
        116,
        580,
    )
    assert doc["violations"] == []


def test_plan_table_is_readable() -> None:
    res = _run("plan", str(NARVIK))
    assert res.exit_code == 0
    assert "99,648 / 25,392 / 1,414" in res.stdout
    assert "228.994 MW" in res.stdout
    assert "No policy violations." in res.stdout


def test_check_passes_narvik() -> None:
    assert _run("check", str(NARVIK)).exit_code == 0


def test_check_fails_with_mandatory_violation(write_site: Writer) -> None:
    data = site_data(NARVIK)
    data["grid"]["zone"] = "US-TEX-ERCO"  # 363 g/kWh, 37% renewable
    res = _run("check", str(write_site(data)), "--format", "json")
    assert res.exit_code == 1
    rules = {v["rule"] for v in json.loads(res.stdout)["violations"]}
    assert rules == {"region-grid-carbon-max", "region-renewable-share-min"}


def test_plan_does_not_fail_on_violations(write_site: Writer) -> None:
    data = site_data(NARVIK)
    data["grid"]["zone"] = "US-TEX-ERCO"
    res = _run("plan", str(write_site(data)), "--format", "json")
    assert res.exit_code == 0
    assert len(json.loads(res.stdout)["violations"]) == 2


def test_check_advisory_only_exits_zero() -> None:
    res = _run("check", str(KIND), "-f", "json")
    assert res.exit_code == 0
    assert [v["level"] for v in json.loads(res.stdout)["violations"]] == ["advisory"]


def test_invalid_input_exits_2_with_one_line(write_site: Writer) -> None:
    data = site_data(NARVIK)
    data["clusters"][2]["pools"][0]["sku"] = "gb400"
    for cmd in ("plan", "check"):
        res = _run(cmd, str(write_site(data)))
        assert res.exit_code == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1
        assert "clusters[2].pools[0].sku: 'gb400' is not a known SKU" in lines[0]


def test_missing_file_exits_2() -> None:
    res = _run("check", "does/not/exist.yaml")
    assert res.exit_code == 2
    assert "does/not/exist.yaml: no such file" in res.stderr


def test_bad_policy_file_exits_2(tmp_path: Path) -> None:
    res = _run("check", str(NARVIK), "--policy", str(tmp_path / "none.yaml"))
    assert res.exit_code == 2
    assert "cannot read policy config" in res.stderr


def test_bad_format_is_a_usage_error() -> None:
    assert _run("plan", str(NARVIK), "--format", "xml").exit_code == 2


def test_console_script_prints_no_traceback(write_site: Writer) -> None:
    """The installed entry point, as a user runs it: one line on stderr, exit 2."""
    path = write_site("name: [\n")
    proc = subprocess.run(
        [sys.executable, "-m", "gigafactory", "check", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "not valid YAML" in proc.stderr
