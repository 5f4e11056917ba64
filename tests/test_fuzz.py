"""Property: randomly mutated site files never crash `plan` or `check`.

Wrong types, missing and extra keys, negative and huge numbers and broken YAML must each
end in exit 0, 1 or 2, with no traceback.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gigafactory.cli import app
from tests.conftest import KIND, NARVIK, site_data

runner = CliRunner()
BASES = {"narvik": site_data(NARVIK), "kind": site_data(KIND)}

_paths_cache: dict[str, list[tuple[Any, ...]]] = {}


def _paths(name: str) -> list[tuple[Any, ...]]:
    """Every path to a value in a base site (keys and list indexes)."""
    if name not in _paths_cache:
        out: list[tuple[Any, ...]] = []

        def walk(node: Any, path: tuple[Any, ...]) -> None:
            out.append(path)
            if isinstance(node, dict):
                for k, v in node.items():
                    walk(v, (*path, k))
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, (*path, i))

        walk(BASES[name], ())
        _paths_cache[name] = out
    return _paths_cache[name]


WEIRD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([-1, 0, -0.5, 10**18, 1e308, math.inf, -math.inf, math.nan]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@st.composite
def mutated_site(draw: st.DrawFn) -> str:
    base = draw(st.sampled_from(sorted(BASES)))
    data = copy.deepcopy(BASES[base])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(base)
        path = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["replace", "delete", "extra", "number"]))
        try:
            parent: Any = data
            for part in path[:-1]:
                parent = parent[part]
            if not path:
                if kind == "replace":
                    data = draw(WEIRD_VALUES)
                continue
            last = path[-1]
            if kind == "replace":
                parent[last] = draw(WEIRD_VALUES)
            elif kind == "delete":
                del parent[last]
            elif kind == "extra" and isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=8))] = draw(WEIRD_VALUES)
            elif kind == "number":
                parent[last] = draw(st.sampled_from([-1, 0, 10**12, 10**40, -(10**9), 0.0001, 1e300]))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path: keep going
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    if draw(st.integers(min_value=0, max_value=4)) == 0:
        # Broken YAML: cut the text, or splice in characters YAML reacts to.
        cut = draw(st.integers(min_value=0, max_value=len(text)))
        junk = draw(
            st.sampled_from(["", ":", "- [", "{", "\t", "&a *b", "!!python/object:os.system", "\x00", "'"])
        )
        text = text[:cut] + junk + text[cut:]
    return text


def _check_no_crash(text: str, tmp: Path) -> None:
    path = tmp / "site.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    for command in ("plan", "check"):
        res = runner.invoke(app, [command, str(path), "--format", "json"])
        assert res.exit_code in (0, 1, 2), (command, res.exit_code, res.output)
        if res.exception is not None:
            assert isinstance(res.exception, SystemExit), f"{command} raised {res.exception!r}\n{text}"
        assert "Traceback" not in res.output
        if command == "plan":
            assert res.exit_code in (0, 2)
        if res.exit_code == 2:
            assert len(res.stderr.strip().splitlines()) == 1, res.stderr


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated_site())
def test_mutated_sites_never_crash(text: str, tmp_path: Path) -> None:
    _check_no_crash(text, tmp_path)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_arbitrary_text_never_crashes(text: str, tmp_path: Path) -> None:
    _check_no_crash(text, tmp_path)
