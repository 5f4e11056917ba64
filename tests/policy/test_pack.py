"""The pack's wiring: one policy per rule, levels and schema from the versioned policy file,
generated docs and config in step with the code, unknowns converted, layers kept."""

from __future__ import annotations

import ast
import json
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pulumi_policy
import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from gigafactory.errors import PolicyConfigError
from gigafactory.policy.docs import pack_config, policies_markdown
from gigafactory.policy.engine import catalogue, default_policy, load_policy
from gigafactory.policy.resource_rules import RESOURCE_RULES
from gigafactory.policy.resources import UNKNOWN
from gigafactory.policy.site_rules import SITE_RULES
from tests.conftest import REPO
from tests.policy.harness import KIND_CTX, PACK, validate_stack

POLICY_FILE = REPO / "gigafactory" / "data" / "policy.yaml"


def _policies() -> dict[str, Any]:
    return {p.name: p for p in PACK.policies(lambda: KIND_CTX)}


def test_every_rule_is_one_policy_of_the_pack() -> None:
    names = [p.name for p in PACK.policies(lambda: KIND_CTX)]
    assert len(names) == len(set(names))
    assert set(names) == set(SITE_RULES) | set(RESOURCE_RULES)
    assert not set(SITE_RULES) & set(RESOURCE_RULES)


def test_policy_kinds_follow_the_rule_scope() -> None:
    pols = _policies()
    for name in SITE_RULES:
        assert isinstance(pols[name], StackValidationPolicy), name
    for name, rule in RESOURCE_RULES.items():
        expected = ResourceValidationPolicy if rule.scope == "resource" else StackValidationPolicy
        assert isinstance(pols[name], expected), name


def test_levels_come_from_the_versioned_policy_file() -> None:
    cfg = default_policy()
    pols = _policies()
    for name in SITE_RULES:
        assert pols[name].enforcement_level == EnforcementLevel(cfg.rule(name).level), name
    for name in RESOURCE_RULES:
        assert pols[name].enforcement_level == EnforcementLevel(cfg.resource_rules[name].level), name


def test_every_resource_rule_has_config_with_a_source() -> None:
    cfg = default_policy()
    for name in RESOURCE_RULES:
        assert cfg.resource_rules[name].source.strip(), name


def test_every_site_rule_says_what_it_checks() -> None:
    for name, rule in SITE_RULES.items():
        assert rule.scope == "site", name
        assert len(rule.checks.split()) >= 5 and rule.checks.endswith("."), (
            f"{name}: say what it checks in a sentence"
        )


def test_thresholds_have_a_json_schema_with_their_defaults() -> None:
    pols = _policies()
    for info in catalogue():
        schema = pols[info.name].config_schema
        if not info.thresholds:
            assert schema is None, info.name
            continue
        assert set(schema.properties) == set(info.thresholds), info.name
        for key, value in info.thresholds.items():
            assert schema.properties[key]["default"] == value
            assert schema.properties[key]["type"] in {"number", "integer", "boolean", "string", "array"}


def test_pack_config_file_matches_the_policy_file() -> None:
    on_disk = json.loads((REPO / "policy" / "policy-config.json").read_text())
    assert on_disk == pack_config()
    assert on_disk["k8s-cluster-size"] == {
        "enforcementLevel": "mandatory",
        "max_nodes": 5000,
        "max_nodes_with_exception": 7500,
    }


def test_policy_docs_are_generated_from_the_code() -> None:
    text = (REPO / "docs" / "policies.md").read_text()
    assert text == policies_markdown(), "docs/policies.md is stale: run python scripts/policy_docs.py"
    for info in catalogue():
        assert f"| `{info.name}` |" in text


def test_policy_docs_script_check_mode() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/policy_docs.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_docs_change_when_a_level_changes(tmp_path: Path) -> None:
    text = POLICY_FILE.read_text().replace(
        "  image-tag-pinned:\n    level: mandatory", "  image-tag-pinned:\n    level: advisory"
    )
    (tmp_path / "p.yaml").write_text(text)
    assert "| `image-tag-pinned` | resource | advisory |" in policies_markdown(
        load_policy(tmp_path / "p.yaml")
    )


def test_policy_file_rejects_an_unknown_resource_rule(tmp_path: Path) -> None:
    text = POLICY_FILE.read_text() + "  no-such-rule:\n    level: mandatory\n    source: x\n"
    (tmp_path / "p.yaml").write_text(text)
    with pytest.raises(PolicyConfigError, match=r"resource_rules\.no-such-rule: unknown rule"):
        load_policy(tmp_path / "p.yaml")


def test_main_builds_the_pack_from_the_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    """policy/__main__.py, run with PolicyPack replaced by a recorder (the real one blocks)."""
    made: list[dict[str, Any]] = []
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kw: made.append(kw))
    runpy.run_path(str(REPO / "policy" / "__main__.py"), run_name="__main__")
    (pack,) = made
    assert pack["name"] == "gigafactory"
    assert [p.name for p in pack["policies"]] == [i.name for i in catalogue()]


def test_plain_turns_sdk_unknowns_into_unknown() -> None:
    props = unknown_checking_proxy(
        {
            "a": {"b": [1, UNKNOWN_STRING_VALUE, {"c": UNKNOWN_STRING_VALUE}]},
            "d": UNKNOWN_STRING_VALUE,
            "e": "x",
        }
    )
    assert PACK.plain(props) == {"a": {"b": [1, UNKNOWN, {"c": UNKNOWN}]}, "d": UNKNOWN, "e": "x"}


def test_library_rules_import_without_pulumi() -> None:
    code = (
        "import sys, gigafactory.policy.resource_rules, gigafactory.policy.engine, gigafactory.policy.docs, gigafactory.cli;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_kubernetes', 'pulumi_policy'));"
        "print(','.join(bad))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert proc.stdout.strip() == "", f"imported at module level: {proc.stdout.strip()}"


def test_pack_requirements_are_pinned() -> None:
    lines = [
        ln.strip()
        for ln in (REPO / "policy" / "requirements.txt").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    pinned = [ln for ln in lines if not ln.startswith("-e")]
    assert pinned and all("==" in ln for ln in pinned), pinned
    pyproject = (REPO / "pyproject.toml").read_text()
    for ln in pinned:
        assert f'"{ln}"' in pyproject, f"{ln} differs from the pin in pyproject.toml"


def test_the_pack_never_edits_sys_path() -> None:
    """The pack runs on the installed library; sys.path edits would pick up whatever
    gigafactory folder sits next to it instead."""
    for path in sorted((REPO / "policy").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "path":
                assert not (isinstance(node.value, ast.Name) and node.value.id == "sys"), (
                    f"{path.name} uses sys.path"
                )


def test_the_pack_reads_the_site_file_of_the_project_it_runs_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy of the project whose Narvik site has design PUE 1.25 (the checkout's: 1.10):
    the pack finds it through GIGAFACTORY_PROJECT_DIR and the stack's config."""
    (tmp_path / "Pulumi.yaml").write_text(
        (REPO / "Pulumi.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "sites").mkdir()
    text = (REPO / "sites" / "narvik.yaml").read_text(encoding="utf-8")
    assert "design_pue: 1.10" in text
    (tmp_path / "sites" / "narvik.yaml").write_text(text.replace("design_pue: 1.10", "design_pue: 1.25"))
    monkeypatch.setenv("GIGAFACTORY_PROJECT_DIR", str(tmp_path))
    monkeypatch.setattr(pulumi, "get_stack", lambda: "narvik-c1")
    pulumi.runtime.set_all_config({"gigafactory:site": "sites/narvik.yaml", "gigafactory:cluster": "c1"})
    try:
        ctx = PACK.stack_config_context()
        (pue,) = [p for p in PACK.policies() if p.name == "design-pue-max"]
        found = [message for message, _ in validate_stack(pue, [])]
    finally:
        pulumi.runtime.set_all_config({})
    assert (ctx.stack, ctx.cluster.name, ctx.site.power.design_pue) == ("narvik-c1", "c1", 1.25)
    # 1.25 > the packaged 1.20 limit
    assert found == [
        "site/narvik: design PUE 1.25 is above 1.2: the facility would waste more energy than the limit for new data centres allows"
    ]
