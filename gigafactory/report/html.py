"""The site report: one self-contained HTML page (figures inlined as SVG) plus each figure
as SVG and PNG files. Nothing on the page loads from the network."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from gigafactory.planning.plan import SitePlan
from gigafactory.policy.config import PolicyConfig
from gigafactory.policy.rule import Violation
from gigafactory.policy.site_rules import SITE_RULES
from gigafactory.report.figures import RenderedFigure, all_figures
from gigafactory.report.tables import report_dict
from gigafactory.site.model import Site

PAGE = "index.html"
FIGURES_DIR = "figures"


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    """One site rule as the report shows it."""

    name: str
    checks: str
    level: str
    verdict: str
    """pass, fail or disabled."""
    thresholds: dict[str, Any]
    source: str
    findings: tuple[Violation, ...]


@dataclass(frozen=True, slots=True)
class Report:
    html: str
    figures: tuple[RenderedFigure, ...]


def rule_verdicts(config: PolicyConfig, violations: list[Violation]) -> list[RuleVerdict]:
    """Every site rule, in evaluation order, with its verdict, thresholds and source."""
    out = []
    for name, site_rule in SITE_RULES.items():
        rc = config.rule(name)
        findings = tuple(v for v in violations if v.rule == name)
        verdict = "disabled" if rc.level == "disabled" else "fail" if findings else "pass"
        out.append(
            RuleVerdict(
                name=name,
                checks=site_rule.checks,
                level=rc.level,
                verdict=verdict,
                thresholds=rc.plain_thresholds(),
                source=rc.source,
                findings=findings,
            )
        )
    return out


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("gigafactory.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(site: Site, plan: SitePlan, violations: list[Violation], config: PolicyConfig) -> Report:
    """The page and its figures, in memory."""
    figures = tuple(all_figures(site, plan, config))
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(
            site=site,
            plan=plan,
            doc=report_dict(plan, violations),
            figures=[(f, Markup(f.svg)) for f in figures],  # matplotlib's own SVG output: trusted
            figures_dir=FIGURES_DIR,
            rules=rule_verdicts(config, violations),
            policy_version=config.version,
            generated=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
    )
    return Report(html=html, figures=figures)


def write_report(report: Report, out: Path) -> Path:
    """Write ``index.html`` and ``figures/<name>.svg|png`` under ``out``; return the page's path."""
    figures_dir = out / FIGURES_DIR
    figures_dir.mkdir(parents=True, exist_ok=True)
    for f in report.figures:
        (figures_dir / f"{f.name}.svg").write_text(f.svg, encoding="utf-8")
        (figures_dir / f"{f.name}.png").write_bytes(f.png)
    page = out / PAGE
    page.write_text(report.html, encoding="utf-8")
    return page
