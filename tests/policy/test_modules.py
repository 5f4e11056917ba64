"""The policy engine's modules import each other in one direction only: no cycles."""

from __future__ import annotations

import ast

from tests.conftest import REPO

POLICY = REPO / "gigafactory" / "policy"
LAYERS = {
    "config": 0,
    "resources": 0,
    "rule": 1,
    "site_rules": 2,
    "resource_rules": 2,
    "engine": 3,
    "docs": 4,
}
"""Each module may import only modules of a lower layer (gigafactory/policy/__init__.py)."""


def _policy_imports(module: str) -> set[str]:
    """gigafactory.policy modules ``module`` imports anywhere in its file, also inside functions."""
    tree = ast.parse((POLICY / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "gigafactory.policy":
                names = [f"gigafactory.policy.{a.name}" for a in node.names]
            else:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {n.split(".")[2] for n in names if n.startswith("gigafactory.policy.")}
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` as a path that ends where it starts, or []."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str]:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return []
        for nxt in sorted(graph.get(node, set())):
            found = visit(nxt, [*path, node])
            if found:
                return found
        done.add(node)
        return []

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return []


def _graph() -> dict[str, set[str]]:
    return {m: _policy_imports(m) for m in LAYERS}


def test_every_policy_module_has_a_layer() -> None:
    modules = {p.stem for p in POLICY.glob("*.py")} - {"__init__"}
    assert modules == set(LAYERS)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_policy_modules() -> None:
    assert _cycle(_graph()) == []


def test_policy_modules_import_only_lower_layers() -> None:
    for module, imports in _graph().items():
        for target in imports:
            assert LAYERS[target] < LAYERS[module], f"gigafactory.policy.{module} imports {target}"


def test_site_and_resource_rules_know_nothing_of_each_other() -> None:
    graph = _graph()
    assert "resource_rules" not in graph["site_rules"]
    assert "site_rules" not in graph["resource_rules"]
