"""Findings name their subject structurally (kind, name, cluster, pool); the reports render
it to the same strings as before, and stacks keep the findings that concern their cluster."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from gigafactory.planning.plan import plan
from gigafactory.policy.engine import evaluate, evaluate_stack, stack_context
from gigafactory.policy.resource_rules import RESOURCE_RULES
from gigafactory.policy.resources import Resource
from gigafactory.policy.rule import (
    Subject,
    Violation,
    cluster_subject,
    grid_subject,
    hall_subject,
    pool_subject,
    resource_subject,
    site_subject,
    stack_subject,
)
from gigafactory.policy.site_rules import SITE_RULES
from gigafactory.site import parse_site
from tests.conftest import NARVIK, site_data
from tests.policy.harness import KIND_CTX, RELEASE


@pytest.mark.parametrize(
    ("subject", "text"),
    [
        (site_subject("narvik"), "site/narvik"),
        (grid_subject("NO-NO4"), "grid/NO-NO4"),
        (hall_subject("hall-a"), "hall/hall-a"),
        (cluster_subject("c1"), "cluster/c1"),
        (pool_subject("c1", "train"), "pool/c1/train"),
        (stack_subject("kind"), "stack/kind"),
        (resource_subject(Resource(RELEASE, "kueue", {})), "kubernetes:helm.sh/v3:Release::kueue"),
    ],
)
def test_subject_renders_as_the_reports_print_it(subject: Subject, text: str) -> None:
    assert str(subject) == text
    assert Violation("r", "mandatory", subject, "m").as_dict() == {
        "rule": "r",
        "level": "mandatory",
        "subject": text,
        "message": "m",
    }


def test_only_cluster_and_pool_subjects_are_kept_to_their_cluster() -> None:
    assert pool_subject("c1", "train").concerns("c1")
    assert not pool_subject("c1", "train").concerns("c2")
    assert cluster_subject("c2").concerns("c2") and not cluster_subject("c2").concerns("c1")
    for everywhere in (site_subject("narvik"), grid_subject("NO-NO4"), hall_subject("hall-a")):
        assert everywhere.concerns("c1") and everywhere.concerns("c6")


def _violations(mutate: dict[str, Any]) -> list[Violation]:
    data = site_data(NARVIK)
    for path, value in mutate.items():
        node: Any = data
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value
    site = parse_site(data, "test.yaml")
    return evaluate(site, plan(site))


def test_site_rules_name_their_subject_structurally() -> None:
    # c2's train pool from rack 3: off the 8-rack SU boundary
    (pool,) = [
        v for v in _violations({"clusters.1.pools.0.first_rack": 3}) if v.rule == "whole-scalable-units"
    ]
    assert pool.about == Subject("pool", cluster="c2", pool="train")
    assert pool.subject == "pool/c2/train"
    (grid,) = _violations({"grid.zone": "DE"})[:1]
    assert grid.about == Subject("grid", "DE")
    # hall-a mgmt /20 = 4,096 addresses < (256 + 1) x 32 + 3 + 1 = 8,228
    (hall,) = [
        v for v in _violations({"halls.0.mgmt_cidr": "10.16.0.0/20"}) if v.rule == "address-plan-capacity"
    ]
    assert hall.about == Subject("hall", "hall-a")


def test_resource_findings_name_the_resource_and_stack_findings_the_stack() -> None:
    unpinned = Resource(RELEASE, "kueue", {"chart": "oci://registry.k8s.io/kueue/charts/kueue"})
    found = [v for v in evaluate_stack("kind", KIND_CTX, [unpinned]) if v.rule == "helm-chart-version-pinned"]
    assert [v.about for v in found] == [Subject("resource", "kubernetes:helm.sh/v3:Release::kueue")]
    without_context = evaluate_stack("kind", None, [])
    assert without_context and {v.about for v in without_context} == {Subject("stack", "kind")}


def test_every_rule_has_a_scope_matching_its_registry() -> None:
    assert {r.scope for r in SITE_RULES.values()} == {"site"}
    assert {r.scope for r in RESOURCE_RULES.values()} == {"resource", "stack"}
    assert all(r.name == name for name, r in SITE_RULES.items())
    assert all(r.name == name for name, r in RESOURCE_RULES.items())


def test_a_site_file_is_resolved_once_per_version(tmp_path: Path) -> None:
    (tmp_path / "sites").mkdir()
    path = tmp_path / "sites" / "narvik.yaml"
    shutil.copy(NARVIK, path)
    c1 = stack_context("narvik-c1", "sites/narvik.yaml", "c1", None, tmp_path)
    c2 = stack_context("narvik-c2", "sites/narvik.yaml", "c2", None, tmp_path)
    assert c1.plan is c2.plan, "the stacks of one site share its plan"
    assert stack_context("narvik-c1", "sites/narvik.yaml", "c1", None, tmp_path) is c1
    # Same size, new content and mtime: PUE 1.10 -> 1.15 is resolved afresh
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("design_pue: 1.10", "design_pue: 1.15"), encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    fresh = stack_context("narvik-c1", "sites/narvik.yaml", "c1", None, tmp_path)
    assert fresh is not c1
    assert (c1.plan.design_pue, fresh.plan.design_pue) == (1.10, 1.15)
