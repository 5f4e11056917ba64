"""`gigafactory report`: the page and its files, opened in real headless Chromium."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from typer.testing import CliRunner

from gigafactory.cli import app
from gigafactory.planning.plan import plan
from gigafactory.policy.engine import evaluate, load_policy
from gigafactory.policy.site_rules import SITE_RULES
from gigafactory.report.html import render_report, rule_verdicts
from gigafactory.site import load_site
from tests.conftest import NARVIK, site_data
from tests.report.browser import chromium, open_page

Writer = Callable[[Any], Path]
runner = CliRunner()
FIGURES = 10  # power, six halls, fabric, grid, tenants


@pytest.fixture(scope="module")
def narvik_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    res = runner.invoke(app, ["report", str(NARVIK), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def _need_chromium() -> None:
    if chromium() is None:
        reason = "chromium is not installed (apt-get install -y --no-install-recommends chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {reason}")  # never a silent green CI
        pytest.skip(reason)


class _Refs(HTMLParser):
    """Every tag and every src/href value of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.refs: list[str] = []
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.refs += [v or "" for k, v in attrs if k in ("src", "href", "xlink:href", "action")]
        self.ids += [v or "" for k, v in attrs if k == "id"]


def test_report_writes_the_page_and_every_figure_as_svg_and_png(narvik_report: Path) -> None:
    svgs = sorted((narvik_report / "figures").glob("*.svg"))
    pngs = sorted((narvik_report / "figures").glob("*.png"))
    assert len(svgs) == len(pngs) == FIGURES
    assert {p.stem for p in svgs} == {p.stem for p in pngs}
    for p in pngs:
        assert p.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), p.name
    for p in svgs:
        assert ET.parse(p).getroot().tag == "{http://www.w3.org/2000/svg}svg", p.name


def test_page_is_self_contained_with_every_figure_inline(narvik_report: Path) -> None:
    parser = _Refs()
    parser.feed((narvik_report / "index.html").read_text(encoding="utf-8"))
    assert parser.tags.count("svg") == FIGURES
    assert not {"script", "link", "img", "iframe", "object"} & set(parser.tags)
    # links go to the page's own anchors and figure files only: nothing to fetch
    external = [r for r in parser.refs if not (r.startswith("#") or r.startswith("figures/"))]
    assert external == []
    for r in parser.refs:
        if r.startswith("figures/"):
            assert (narvik_report / r).is_file(), r
    assert parser.ids and len(parser.ids) == len(set(parser.ids)), "duplicate ids across inline figures"


def test_page_opens_in_chromium_without_console_errors(narvik_report: Path, tmp_path: Path) -> None:
    _need_chromium()
    shot = tmp_path / "report.png"
    run = open_page(narvik_report / "index.html", shot)
    assert run.errors == []
    assert run.title == "Site report: narvik"
    # the browser rendered one rack shape per rack position: 6 halls x 256
    assert run.rack_shapes == 6 * 256
    assert run.requests == [(narvik_report / "index.html").resolve().as_uri()]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000  # a drawn page, not blank


def test_browser_check_fails_on_console_errors_and_network_requests(tmp_path: Path) -> None:
    """The check above can fail: a page that logs an error or fetches from the network does."""
    _need_chromium()
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><title>bad</title><script>console.error('boom')</script>"
        '<img src="http://192.0.2.1/x.png">',
        encoding="utf-8",
    )
    run = open_page(page, tmp_path / "bad.png")
    assert "console.error: boom" in run.errors
    assert "network request: http://192.0.2.1/x.png" in run.errors


def test_rules_table_gives_every_rule_its_verdict_threshold_and_source(write_site: Writer) -> None:
    data = site_data(NARVIK)
    data["power"]["design_pue"] = 1.25  # above 1.20, and 208.176 x 1.25 = 260.22 MW > 230 MW
    site = load_site(write_site(data))
    config = load_policy(None)
    site_plan = plan(site)
    violations = evaluate(site, site_plan, config)
    verdicts = {v.name: v for v in rule_verdicts(config, violations)}
    assert list(verdicts) == list(SITE_RULES)
    assert verdicts["design-pue-max"].verdict == "fail"
    assert verdicts["design-pue-max"].thresholds == {"max_pue": 1.2}
    assert verdicts["site-power-envelope"].verdict == "fail"
    assert verdicts["region-grid-carbon-max"].verdict == "pass"
    html = render_report(site, site_plan, violations, config).html
    for name, v in verdicts.items():
        assert f'id="rule-{name}"' in html
        assert str(escape(v.source)) in html, name
    assert "design PUE 1.25 is above 1.2" in html


def test_report_of_a_missing_site_is_one_line_and_exit_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["report", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "no such file" in res.output
    assert not (tmp_path / "out").exists()
