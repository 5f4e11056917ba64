"""What a change to a site file does: totals, clusters and fabric, and rules that start or
stop failing, between two revisions of a site (two files, or ``REV:path`` from git).

The JSON shape (``diff_dict``) is documented in docs/report.md; its total keys are those of
``gigafactory plan --format json``.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gigafactory.errors import SiteFileError
from gigafactory.planning.plan import ClusterPlan, SitePlan
from gigafactory.planning.plan import plan as make_plan
from gigafactory.policy.config import PolicyConfig
from gigafactory.policy.engine import evaluate
from gigafactory.policy.rule import Violation
from gigafactory.report.tables import report_dict
from gigafactory.site import parse_site
from gigafactory.site.load import MAX_FILE_BYTES, parse_yaml, read_text

# Per-cluster figures compared, in output order: (key, label).
CLUSTER_KEYS = (("gpus", "GPUs"), ("nodes", "nodes"), ("racks", "racks"), ("it_mw", "IT MW"))
FABRIC_KEYS = (
    ("tiers", "tiers"),
    ("leaf", "leaf"),
    ("spine", "spine"),
    ("core", "core"),
    ("switches", "switches"),
    ("cables", "cables"),
)
TOTAL_LABELS = {
    "gpus": "GPUs",
    "nodes": "nodes",
    "racks": "racks",
    "it_mw": "IT power (MW)",
    "facility_mw": "facility power (MW)",
    "envelope_mw": "grid allocation (MW)",
    "headroom_mw": "headroom (MW)",
}
GIT_TIMEOUT_S = 30


@dataclass(frozen=True, slots=True)
class Revision:
    """One side of a diff: where it came from, its plan and its violations."""

    label: str
    plan: SitePlan
    violations: tuple[Violation, ...]


def read_revision(spec: str) -> tuple[str, Any]:
    """The YAML data of ``spec``: a site file, or ``REV:path`` as ``git show`` reads it
    (``HEAD~1:sites/narvik.yaml``; the path is relative to the repository root, or ``./``-relative
    to the working directory). An existing file wins over the git reading."""
    path = Path(spec)
    if ":" not in spec or path.exists():
        return spec, parse_yaml(read_text(path), spec)
    try:
        proc = subprocess.run(
            ["git", "show", spec],
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise SiteFileError(spec, "", "git is not installed; give a site file instead") from None
    except subprocess.TimeoutExpired:
        raise SiteFileError(spec, "", f"git show took longer than {GIT_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SiteFileError(spec, "", f"no such file or revision (git: {why[0] if why else proc.returncode})")
    if len(proc.stdout) > MAX_FILE_BYTES:
        raise SiteFileError(spec, "", f"is {len(proc.stdout)} bytes; allowed: at most {MAX_FILE_BYTES} bytes")
    try:
        text = proc.stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SiteFileError(spec, "", f"is not UTF-8 text (byte {exc.start})") from None
    return spec, parse_yaml(text, spec)


def load_revision(spec: str, config: PolicyConfig) -> Revision:
    label, data = read_revision(spec)
    site = parse_site(data, label)
    site_plan = make_plan(site)
    return Revision(label, site_plan, tuple(evaluate(site, site_plan, config)))


def _change(old: float | int | None, new: float | int | None) -> dict[str, Any]:
    """``{"old", "new", "delta"}``; a missing side (a cluster added or removed) counts as 0
    in the delta. MW figures are rounded to 3 decimals, as in ``plan``."""
    delta = (new or 0) - (old or 0)
    if isinstance(delta, float):
        delta = round(delta, 3)
    return {"old": old, "new": new, "delta": delta}


def _cluster_figures(c: ClusterPlan | None) -> dict[str, Any]:
    if c is None:
        return {}
    doc = {"gpus": c.gpus, "nodes": c.nodes, "racks": c.racks, "it_mw": round(c.it_mw, 3)}
    f = c.fabric
    fabric = {
        "tiers": f.tiers,
        "leaf": f.leaf,
        "spine": f.spine,
        "core": f.core,
        "switches": f.switches,
        "cables": f.cables,
    }
    return {**doc, "fabric": fabric}


def _rule_key(v: Violation) -> tuple[str, str]:
    """A violation's identity across revisions: its rule and subject (the message carries
    figures that may change while the same thing keeps failing)."""
    return v.rule, v.subject


def diff_dict(old: Revision, new: Revision) -> dict[str, Any]:
    """The documented JSON shape of `gigafactory diff --format json`."""
    old_totals = report_dict(old.plan, [])["totals"]
    new_totals = report_dict(new.plan, [])["totals"]
    totals = {k: _change(old_totals[k], new_totals[k]) for k in new_totals}

    old_clusters = {c.name: c for c in old.plan.clusters}
    new_clusters = {c.name: c for c in new.plan.clusters}
    names = list(old_clusters) + [n for n in new_clusters if n not in old_clusters]
    clusters = []
    for name in names:
        o, n = _cluster_figures(old_clusters.get(name)), _cluster_figures(new_clusters.get(name))
        status = "added" if not o else "removed" if not n else "changed" if o != n else "unchanged"
        entry: dict[str, Any] = {"name": name, "status": status}
        for key, _ in CLUSTER_KEYS:
            entry[key] = _change(o.get(key), n.get(key))
        entry["fabric"] = {
            key: _change(o.get("fabric", {}).get(key), n.get("fabric", {}).get(key)) for key, _ in FABRIC_KEYS
        }
        clusters.append(entry)

    old_keys = {_rule_key(v) for v in old.violations}
    new_keys = {_rule_key(v) for v in new.violations}
    return {
        "totals": totals,
        "clusters": clusters,
        "rules": {
            "added": [v.as_dict() for v in new.violations if _rule_key(v) not in old_keys],
            "removed": [v.as_dict() for v in old.violations if _rule_key(v) not in new_keys],
        },
    }


def adds_mandatory(doc: dict[str, Any]) -> bool:
    """True when the new revision starts failing a mandatory rule (the diff's exit 1)."""
    return any(v["level"] == "mandatory" for v in doc["rules"]["added"])


# ---------------------------------------------------------------------------------------
# Text forms
# ---------------------------------------------------------------------------------------


def _num(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return f"{value:,}"


def _delta(value: float | int) -> str:
    if value == 0:
        return "0"
    text = f"{value:+,.3f}" if isinstance(value, float) else f"{value:+,}"
    return text


def _cluster_rows(doc: dict[str, Any]) -> list[list[str]]:
    """One row per changed figure of a changed, added or removed cluster."""
    rows = []
    for c in doc["clusters"]:
        if c["status"] == "unchanged":
            continue
        items = [(label, c[key]) for key, label in CLUSTER_KEYS]
        items += [(f"fabric {label}", c["fabric"][key]) for key, label in FABRIC_KEYS]
        for label, ch in items:
            if ch["delta"] != 0 or ch["old"] != ch["new"]:
                rows.append(
                    [
                        f"{c['name']} ({c['status']})",
                        label,
                        _num(ch["old"]),
                        _num(ch["new"]),
                        _delta(ch["delta"]),
                    ]
                )
    return rows


def markdown(doc: dict[str, Any], old: str, new: str) -> str:
    """The pull-request comment."""
    lines = [f"### Site diff: `{old}` → `{new}`", ""]
    lines += ["| | old | new | change |", "|---|---:|---:|---:|"]
    for key, ch in doc["totals"].items():
        lines.append(
            f"| {TOTAL_LABELS.get(key, key)} | {_num(ch['old'])} | {_num(ch['new'])} | {_delta(ch['delta'])} |"
        )
    rows = _cluster_rows(doc)
    lines += ["", "#### Clusters", ""]
    if rows:
        lines += ["| cluster | figure | old | new | change |", "|---|---|---:|---:|---:|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        lines.append("No cluster changes.")
    lines += ["", "#### Rules", ""]
    added, removed = doc["rules"]["added"], doc["rules"]["removed"]
    if not added and not removed:
        lines.append("No rule starts or stops failing.")
    for title, items in (("Start failing", added), ("Stop failing", removed)):
        if items:
            lines.append(f"**{title}**")
            lines.append("")
            for v in items:
                message = v["message"].replace("|", "\\|")
                lines.append(f"- {v['level']} `{v['rule']}` {v['subject']}: {message}")
            lines.append("")
    if adds_mandatory(doc):
        if lines[-1]:
            lines.append("")
        lines.append("**The new revision adds a mandatory violation.**")
    return "\n".join(lines).rstrip() + "\n"


def print_table(doc: dict[str, Any], old: str, new: str) -> None:
    """The diff for people, with rich (imported here: JSON and Markdown do not pay for it)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    totals = Table(title=f"Site diff: {old} -> {new}")
    for col in ("", "old", "new", "change"):
        totals.add_column(col, justify="left" if not col else "right")
    for key, ch in doc["totals"].items():
        style = "" if ch["delta"] == 0 else "bold"
        totals.add_row(
            TOTAL_LABELS.get(key, key), _num(ch["old"]), _num(ch["new"]), _delta(ch["delta"]), style=style
        )
    console.print(totals)
    rows = _cluster_rows(doc)
    if rows:
        table = Table(title="Clusters")
        for col in ("cluster", "figure", "old", "new", "change"):
            table.add_column(col, justify="right" if col in ("old", "new", "change") else "left")
        for r in rows:
            table.add_row(*r)
        console.print(table)
    else:
        console.print("No cluster changes.")
    added, removed = doc["rules"]["added"], doc["rules"]["removed"]
    if not added and not removed:
        console.print("No rule starts or stops failing.")
        return
    table = Table(title="Rules")
    for col in ("change", "level", "rule", "subject", "message"):
        table.add_column(col, overflow="fold")
    for change, items in (("starts failing", added), ("stops failing", removed)):
        for v in items:
            style = "red" if change == "starts failing" and v["level"] == "mandatory" else ""
            table.add_row(change, v["level"], v["rule"], v["subject"], v["message"], style=style)
    console.print(table)
