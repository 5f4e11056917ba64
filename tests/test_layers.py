"""Layer rules of DESIGN.md that a test can hold: the library never imports Pulumi or the
components at import time, and its subpackages import each other in one direction only."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import gigafactory
from tests.conftest import REPO

LIBRARY = REPO / "gigafactory"
# Which subpackage may import which at module level (arrows point one way). Top-level
# modules (errors, project, toolchain) are shared by all; the CLI may import everything.
ALLOWED: dict[str, set[str]] = {
    "site": set(),
    "planning": {"site"},
    "policy": {"site", "planning"},
    "report": {"site", "planning", "policy"},
    "stack": {"site", "planning"},
    "baremetal": {"site", "planning"},
    # sim.rollout rehearses planning.rollout's batches with the playbook, run by baremetal.provision
    "sim": {"site", "planning", "stack", "baremetal"},
    "cli": {"site", "planning", "policy", "report", "stack", "baremetal", "sim"},
}


def _library_modules() -> list[str]:
    names = ["gigafactory"]
    for info in pkgutil.walk_packages(gigafactory.__path__, "gigafactory."):
        names.append(info.name)
    return sorted(names)


def test_library_and_cli_import_without_pulumi_or_components() -> None:
    """`gigafactory plan` must not pay for (or depend on) the Pulumi SDK; the library never
    imports the Pulumi components (arrows point from components to the library)."""
    modules = [m for m in _library_modules() if not m.endswith("__main__")]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pulumi', 'pulumi_kubernetes', 'pulumi_policy', 'components'))\n"
        "print(','.join(bad))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert proc.stdout.strip() == "", f"imported at module level: {proc.stdout.strip()}"


def _top_level_imports(path: Path) -> set[str]:
    """gigafactory modules imported at module level (not inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from gigafactory.site import catalog` imports a submodule
                sub = f"{node.module}.{alias.name}"
                is_module = (REPO / Path(*sub.split("."))).with_suffix(".py").is_file()
                out.add(sub if is_module else node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.If):  # TYPE_CHECKING blocks do not run
            continue
    return {m for m in out if m.startswith("gigafactory.")}


def test_subpackages_import_in_one_direction() -> None:
    problems = []
    for path in sorted(LIBRARY.rglob("*.py")):
        rel = path.relative_to(LIBRARY).parts
        if len(rel) < 2 or rel[0] not in ALLOWED:
            continue
        own = rel[0]
        for module in _top_level_imports(path):
            parts = module.split(".")
            target = parts[1]
            if target == own or target not in ALLOWED:
                continue  # same subpackage, or a shared top-level module
            if target not in ALLOWED[own]:
                problems.append(f"{path.relative_to(REPO)} imports {module} ({own} -> {target})")
    assert problems == [], "\n".join(problems)


def test_no_import_cycle_between_library_modules() -> None:
    graph: dict[str, set[str]] = {}
    for path in sorted(LIBRARY.rglob("*.py")):
        rel = path.relative_to(REPO).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        graph[name] = {m for m in _top_level_imports(path) if m != name}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)
