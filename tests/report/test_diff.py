"""`gigafactory diff` against hand-made changes of the Narvik site, figures computed by hand.

Narvik as committed (sites/narvik.yaml): 1,384 GB300 NVL72 racks (72 GPUs, 18 trays, 150 kW IT
each) plus 30 CPU racks (19.2 kW): 99,648 GPUs, 25,392 nodes, 1,414 racks, 208.176 MW IT,
x PUE 1.10 = 228.9936 MW facility in the 230 MW phase: 1.0064 MW headroom. MW figures are
rounded to 3 decimals, as in `plan --format json`. Its guarantees of origin cover 2,006,000 MWh
a year, and rule renewable-claim-evidence wants 100 % of facility MW x 8,760 h: 228.9936 x
8,760 = 2,005,983.9 MWh is covered, so any growth of the facility power breaks that rule too.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gigafactory.cli import app
from tests.conftest import NARVIK, site_data

Writer = Callable[[Any], Path]
runner = CliRunner()
TOTAL_KEYS = ["gpus", "nodes", "racks", "it_mw", "facility_mw", "envelope_mw", "headroom_mw"]


def _diff(old: Path | str, new: Path | str, *fmt: str) -> tuple[int, str]:
    res = runner.invoke(app, ["diff", str(old), str(new), *fmt])
    return res.exit_code, res.stdout


def _json(old: Path | str, new: Path | str) -> tuple[int, dict[str, Any]]:
    code, out = _diff(old, new, "--format", "json")
    return code, json.loads(out)


def _totals(doc: dict[str, Any]) -> dict[str, tuple[Any, Any, Any]]:
    return {k: (v["old"], v["new"], v["delta"]) for k, v in doc["totals"].items()}


def _added(doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(v["rule"], v["level"], v["subject"]) for v in doc["rules"]["added"]]


def _one_su_more_in_c6(write_site: Writer) -> Path:
    data = site_data(NARVIK)
    c6 = data["clusters"][5]
    assert c6["name"] == "c6" and c6["pools"][0]["racks"] == 224
    c6["pools"][0]["racks"] = 224 + 8  # one scalable unit: 8 racks
    return write_site(data)


def test_diff_json_has_the_documented_shape_and_plans_total_keys() -> None:
    code, doc = _json(NARVIK, NARVIK)
    assert code == 0
    assert set(doc) == {"totals", "clusters", "rules"}
    plan_doc = json.loads(runner.invoke(app, ["plan", str(NARVIK), "--format", "json"]).stdout)
    assert list(doc["totals"]) == list(plan_doc["totals"]) == TOTAL_KEYS
    assert all(set(v) == {"old", "new", "delta"} and v["delta"] == 0 for v in doc["totals"].values())
    assert [c["status"] for c in doc["clusters"]] == ["unchanged"] * 6
    assert doc["rules"] == {"added": [], "removed": []}


def test_one_scalable_unit_added(write_site: Writer) -> None:
    code, doc = _json(NARVIK, _one_su_more_in_c6(write_site))
    # one SU = 8 racks x 18 trays = 144 nodes x 4 GPUs = 576 GPUs; 8 x 150 kW = 1.2 MW IT
    # facility: 209.376 x 1.10 = 230.3136 -> 230.314 MW; headroom 230 - 230.3136 = -0.314 MW
    assert _totals(doc) == {
        "gpus": (99_648, 100_224, 576),
        "nodes": (25_392, 25_536, 144),
        "racks": (1_414, 1_422, 8),
        "it_mw": (208.176, 209.376, 1.2),
        "facility_mw": (228.994, 230.314, 1.32),
        "envelope_mw": (230.0, 230.0, 0),
        "headroom_mw": (1.006, -0.314, -1.32),
    }
    (c6,) = [c for c in doc["clusters"] if c["status"] != "unchanged"]
    assert c6["name"] == "c6" and c6["status"] == "changed"
    assert c6["gpus"] == {"old": 16_128, "new": 16_704, "delta": 576}
    # fabric, N GPU NICs, k = 144 ports: N = 28 SUs x 576 = 16,128 -> 29 x 576 = 16,704;
    # leaf = spine = 2N/k: 224 -> 232, core = N/k: 112 -> 116, cables 3N: 48,384 -> 50,112
    fabric = {k: (v["old"], v["new"], v["delta"]) for k, v in c6["fabric"].items()}
    assert fabric == {
        "tiers": (3, 3, 0),
        "leaf": (224, 232, 8),
        "spine": (224, 232, 8),
        "core": (112, 116, 4),
        "switches": (560, 580, 20),
        "cables": (48_384, 50_112, 1_728),
    }
    # 100,224 GPUs break the 100,000-GPU commitment; 230.314 MW breaks the 230 MW phase, and
    # 230.3136 x 8,760 = 2,017,547 MWh outgrows the 2,006,000 MWh of certificates
    assert sorted(_added(doc)) == [
        ("gpu-commitment-cap", "mandatory", "site/narvik"),
        ("renewable-claim-evidence", "mandatory", "site/narvik"),
        ("site-power-envelope", "mandatory", "site/narvik"),
    ]
    assert doc["rules"]["removed"] == []
    assert code == 1


def test_pue_raised_past_the_envelope_fails(write_site: Writer) -> None:
    data = site_data(NARVIK)
    data["power"]["design_pue"] = 1.15
    code, doc = _json(NARVIK, write_site(data))
    # 208.176 x 1.15 = 239.4024 -> 239.402 MW: +10.408 MW; headroom 230 - 239.4024 = -9.402
    totals = _totals(doc)
    assert totals["facility_mw"] == (228.994, 239.402, 10.408)
    assert totals["headroom_mw"] == (1.006, -9.402, -10.408)
    assert totals["gpus"] == (99_648, 99_648, 0) and totals["it_mw"] == (208.176, 208.176, 0)
    assert [c["status"] for c in doc["clusters"]] == ["unchanged"] * 6
    # 1.15 is within the 1.20 PUE limit; the envelope fails, and 239.4024 x 8,760 =
    # 2,097,165 MWh outgrows the 2,006,000 MWh of certificates
    assert sorted(_added(doc)) == [
        ("renewable-claim-evidence", "mandatory", "site/narvik"),
        ("site-power-envelope", "mandatory", "site/narvik"),
    ]
    assert code == 1


def test_pue_raised_within_the_envelope_still_outgrows_the_certificates(write_site: Writer) -> None:
    data = site_data(NARVIK)
    data["power"]["design_pue"] = 1.104
    code, doc = _json(NARVIK, write_site(data))
    # 208.176 x 1.104 = 229.826304 -> 229.826 MW; headroom 0.173696 -> 0.174 MW: within 230 MW
    assert _totals(doc)["facility_mw"] == (228.994, 229.826, 0.832)
    assert _totals(doc)["headroom_mw"] == (1.006, 0.174, -0.832)
    # but 229.826304 x 8,760 = 2,013,278 MWh > 2,006,000 MWh of certificates
    assert _added(doc) == [("renewable-claim-evidence", "mandatory", "site/narvik")]
    assert "2,013,278 MWh" in doc["rules"]["added"][0]["message"]
    assert code == 1


def test_pue_lowered_passes(write_site: Writer) -> None:
    data = site_data(NARVIK)
    data["power"]["design_pue"] = 1.08
    code, doc = _json(NARVIK, write_site(data))
    # 208.176 x 1.08 = 224.83008 -> 224.830 MW; headroom 5.16992 -> 5.170 MW
    assert _totals(doc)["facility_mw"] == (228.994, 224.83, -4.164)
    assert _totals(doc)["headroom_mw"] == (1.006, 5.17, 4.164)
    assert doc["rules"] == {"added": [], "removed": []}
    assert code == 0


def test_zone_changed_to_a_low_renewable_zone_fails(write_site: Writer) -> None:
    data = site_data(NARVIK)
    data["grid"]["zone"] = "SE-SE3"  # Stockholm 2025: 20 g CO2eq/kWh but 64 % renewable
    code, doc = _json(NARVIK, write_site(data))
    assert all(v["delta"] == 0 for v in doc["totals"].values())  # power and capacity unchanged
    # 20 g <= 100 g passes the carbon rule; 0.64 < 0.90 fails the renewable-share rule
    assert _added(doc) == [("region-renewable-share-min", "mandatory", "grid/SE-SE3")]
    assert "64% renewable" in doc["rules"]["added"][0]["message"]
    assert code == 1


def test_zone_changed_to_a_clean_zone_passes(write_site: Writer) -> None:
    data = site_data(NARVIK)
    data["grid"]["zone"] = "SE-SE1"  # Luleå 2025: 15 g, 99 % renewable
    code, doc = _json(NARVIK, write_site(data))
    assert doc["rules"] == {"added": [], "removed": []}
    assert code == 0


def test_fixing_a_violation_lists_it_as_removed_and_passes(write_site: Writer) -> None:
    data = site_data(NARVIK)
    data["power"]["design_pue"] = 1.15
    code, doc = _json(write_site(data), NARVIK)
    assert sorted((v["rule"], v["subject"]) for v in doc["rules"]["removed"]) == [
        ("renewable-claim-evidence", "site/narvik"),
        ("site-power-envelope", "site/narvik"),
    ]
    assert doc["rules"]["added"] == []
    assert code == 0


def test_markdown_is_a_pull_request_comment(write_site: Writer) -> None:
    code, out = _diff(NARVIK, _one_su_more_in_c6(write_site), "--format", "markdown")
    assert code == 1
    assert "| GPUs | 99,648 | 100,224 | +576 |" in out
    assert "| headroom (MW) | 1.006 | -0.314 | -1.320 |" in out
    assert "| c6 (changed) | fabric leaf | 224 | 232 | +8 |" in out
    assert "**Start failing**" in out and "`gpu-commitment-cap`" in out
    assert "adds a mandatory violation" in out


def test_table_names_rules_that_start_failing(write_site: Writer) -> None:
    code, out = _diff(NARVIK, _one_su_more_in_c6(write_site))
    assert code == 1
    assert "starts failing" in out and "gpu-commitment-cap" in out
    assert "100,224" in out


def test_diff_reads_a_site_at_two_git_revisions(
    write_site: Writer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    (repo / "sites").mkdir(parents=True)
    site = repo / "sites" / "narvik.yaml"
    site.write_text(NARVIK.read_text(encoding="utf-8"), encoding="utf-8")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "sites/narvik.yaml"], check=True)
    subprocess.run([*git, "commit", "-qm", "narvik"], check=True)
    site.write_text(_one_su_more_in_c6(write_site).read_text(encoding="utf-8"), encoding="utf-8")
    subprocess.run([*git, "commit", "-qam", "one SU more"], check=True)
    monkeypatch.chdir(repo)
    code, doc = _json("HEAD~1:sites/narvik.yaml", "HEAD:sites/narvik.yaml")
    assert _totals(doc)["gpus"] == (99_648, 100_224, 576)
    assert code == 1
    code, doc = _json("HEAD~1:sites/narvik.yaml", "sites/narvik.yaml")  # a revision and a file
    assert _totals(doc)["racks"] == (1_414, 1_422, 8)


def test_bad_revision_is_one_line_and_exit_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["diff", "no-such-rev:sites/narvik.yaml", str(NARVIK)])
    assert res.exit_code == 2
    assert "no-such-rev:sites/narvik.yaml: no such file or revision" in res.output
    res = runner.invoke(app, ["diff", str(NARVIK), str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2
    assert "missing.yaml: no such file" in res.output
