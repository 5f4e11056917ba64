"""Whole stacks: every stack in stacks/ passes every policy offline; mutated copies fail
with the right rule names; `gigafactory check --stack / --all-stacks` exit codes and shape."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from gigafactory.cli import app
from gigafactory.policy.engine import StackReport, check_stack, has_mandatory, report_for, stack_context
from gigafactory.stack.config import load_stack_config, stacks
from gigafactory.stack.render import render_stack
from tests.conftest import REPO

STACKS = stacks(REPO)
runner = CliRunner()


@functools.cache
def _rendered(stack: str) -> list[dict[str, Any]]:
    return render_stack(stack, root=REPO).resources


def _check(stack: str, mutate: Callable[[list[dict[str, Any]]], None] | None = None) -> StackReport:
    resources = copy.deepcopy(_rendered(stack))
    if mutate is not None:
        mutate(resources)
    config = load_stack_config(stack, REPO)
    ctx = stack_context(stack, config.site, config.cluster, config.platform, REPO)
    return report_for(ctx, resources)


def _one(resources: list[dict[str, Any]], pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    found = [r for r in resources if pred(r)]
    assert found, "the render has no such resource: the mutation would test nothing"
    return found[0]


def _release(chart_part: str) -> Callable[[dict[str, Any]], bool]:
    return lambda r: (
        r["type"] == "kubernetes:helm.sh/v3:Release" and chart_part in str(r["inputs"].get("chart"))
    )


def _kind(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda r: r["type"].endswith(f":{kind}")


def test_the_expected_stacks_exist() -> None:
    assert {"kind", "minikube"} <= set(STACKS)
    assert {f"narvik-c{i}" for i in range(1, 7)} <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_passes_every_mandatory_policy(stack: str) -> None:
    report = _check(stack)
    assert report.resources, "nothing rendered"
    assert not has_mandatory(report.violations), [v.as_dict() for v in report.violations]


# --- mutated copies ---------------------------------------------------------------------------


def _no_chart_version(res: list[dict[str, Any]]) -> None:
    _one(res, _release("kueue"))["inputs"].pop("version")


def _quota_above_pool(res: list[dict[str, Any]]) -> None:
    queue = _one(res, _kind("ClusterQueue"))
    gpu = queue["inputs"]["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]
    gpu["nominalQuota"] = str(int(gpu["nominalQuota"]) + 1)


def _latest_image(res: list[dict[str, Any]]) -> None:
    values = _one(res, _release("kube-prometheus-stack"))["inputs"]["values"]
    values.setdefault("grafana", {})["image"] = {"repository": "grafana/grafana", "tag": "latest"}


def _grafana_on_gpu_nodes(res: list[dict[str, Any]]) -> None:
    values = _one(res, _release("kube-prometheus-stack"))["inputs"]["values"]
    values.setdefault("grafana", {})["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists"}]


def _open_tenant(res: list[dict[str, Any]]) -> None:
    values = _one(res, _release("tenant"))["inputs"]["values"]
    values["networkPolicy"] = {**values.get("networkPolicy", {}), "enabled": False}


def _no_tenant(res: list[dict[str, Any]]) -> None:
    res.remove(_one(res, _release("tenant")))


def _real_operator_on_kind(res: list[dict[str, Any]]) -> None:
    inputs = _one(res, _release("fake-gpu-operator"))["inputs"]
    inputs.update(chart="gpu-operator", version="v26.7.0", values={})


MUTATIONS: list[tuple[str, Callable[[list[dict[str, Any]]], None], str]] = [
    ("narvik-c1", _no_chart_version, "helm-chart-version-pinned"),
    ("kind", _no_chart_version, "helm-chart-version-pinned"),
    ("narvik-c1", _quota_above_pool, "kueue-gpu-quota-within-pool"),
    ("kind", _quota_above_pool, "kueue-gpu-quota-within-pool"),
    ("narvik-c2", _latest_image, "image-tag-pinned"),
    ("narvik-c3", _grafana_on_gpu_nodes, "gpu-taint-toleration-restricted"),
    ("kind", _open_tenant, "tenant-namespace-isolation"),
    ("narvik-c1", _no_tenant, "tenant-namespace-isolation"),
    ("kind", _real_operator_on_kind, "simulated-gpu-no-driver"),
    ("minikube", _real_operator_on_kind, "simulated-gpu-no-driver"),
]


@pytest.mark.parametrize(("stack", "mutate", "rule"), MUTATIONS, ids=[f"{s}-{r}" for s, _, r in MUTATIONS])
def test_mutated_stack_fails_with_the_rule(
    stack: str, mutate: Callable[[list[dict[str, Any]]], None], rule: str
) -> None:
    report = _check(stack, mutate)
    mandatory = {v.rule for v in report.violations if v.level == "mandatory"}
    assert mandatory == {rule}, [v.as_dict() for v in report.violations]
    for v in report.violations:
        if v.rule == rule and v.subject != f"stack/{stack}":
            assert v.subject.startswith("kubernetes:"), v.subject  # names the resource: type::name
            assert "::" in v.subject


# --- the command --------------------------------------------------------------------------------


def test_check_stack_json_has_the_site_report_shape_and_the_stack() -> None:
    res = runner.invoke(app, ["check", "--stack", "narvik-c1", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc) == {"stack", "site", "phase", "totals", "grid", "clusters", "violations"}
    assert doc["stack"] == "narvik-c1"
    assert [c["name"] for c in doc["clusters"]] == ["c1"]
    assert doc["violations"] == []


def test_check_all_stacks_checks_every_stack() -> None:
    res = runner.invoke(app, ["check", "--all-stacks", "-f", "json"])
    assert res.exit_code == 0, res.output
    docs = json.loads(res.stdout)
    assert [d["stack"] for d in docs] == STACKS
    # the laptop's GPU pool is a fraction of a scalable unit: advisory only
    assert {v["rule"] for d in docs for v in d["violations"]} == {"whole-scalable-units"}


def test_check_stack_exits_1_on_a_mandatory_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mutated program (the Kueue chart unpinned) fails the offline check like the pack would."""
    from components import versions

    monkeypatch.setattr(versions, "KUEUE", versions.ChartPin(versions.KUEUE.chart, versions.KUEUE.repo, ""))
    res = runner.invoke(app, ["check", "--stack", "kind", "-f", "json"])
    assert res.exit_code == 1, res.output
    (v,) = [v for v in json.loads(res.stdout)["violations"] if v["level"] == "mandatory"]
    assert v["rule"] == "helm-chart-version-pinned"
    assert v["subject"].startswith("kubernetes:helm.sh/v3:Release::") and "kueue" in v["subject"]


@pytest.mark.parametrize(
    "args",
    [
        ["check"],
        ["check", "sites/kind.yaml", "--stack", "kind"],
        ["check", "--stack", "kind", "--all-stacks"],
        ["check", "sites/kind.yaml", "--all-stacks"],
    ],
)
def test_check_needs_exactly_one_target(args: list[str]) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert res.stderr.strip() == "gigafactory: error: give exactly one of SITE, --stack NAME or --all-stacks"


def test_check_unknown_stack_is_one_line_and_exit_2() -> None:
    res = runner.invoke(app, ["check", "--stack", "nope"])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "stack 'nope'" in lines[0] and "allowed: kind" in lines[0]


def test_check_stack_report_names_the_stack_in_the_table() -> None:
    res = runner.invoke(app, ["check", "--stack", "kind"])
    assert res.exit_code == 0
    assert "Policy check: stack kind" in res.stdout
    assert "whole-scalable-units" in res.stdout


def test_check_stack_runs_the_same_policies_as_check_stack() -> None:
    assert check_stack("kind").violations == _check("kind").violations
