"""Properties over every input path: site files, provision's --extra-vars and --limit,
render --out folders, chart values and CLI options.

Randomly mutated site files (wrong types, missing and extra keys, negative and huge numbers,
broken YAML) end in exit 0, 1 or 2 with no traceback. Extra variables are a JSON object of
variable names or one ProvisionError line; a --limit selects known hosts or is an error; a
render folder is replaced whole or refused untouched; no chart value injects a YAML key; any
combination of CLI options ends in an exit code, never a traceback.
"""

from __future__ import annotations

import copy
import json
import math
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gigafactory.baremetal.inventory import build
from gigafactory.baremetal.provision import ProvisionError, load_extra_vars, select_hosts
from gigafactory.cli import app, main
from gigafactory.site import load_site
from gigafactory.stack.output import MANIFEST, OutputError, write_tree
from tests.charts import conftest as charts_conftest
from tests.charts.rendering import run_helm, template_args
from tests.conftest import KIND, NARVIK, REPO, site_data

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


# ---------------------------------------------------------------------------------------
# provision: --extra-vars and --limit
# ---------------------------------------------------------------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)


@st.composite
def extra_vars_text(draw: st.DrawFn) -> str:
    """JSON (valid or not), with junk spliced in, duplicate keys, or deep nesting."""
    kind = draw(st.sampled_from(["json", "junk", "duplicate", "deep", "text"]))
    if kind == "text":
        return draw(st.text(max_size=60))
    text = json.dumps(draw(JSON_VALUES), allow_nan=True)
    if kind == "junk":
        at = draw(st.integers(min_value=0, max_value=len(text)))
        text = text[:at] + draw(st.sampled_from(["{", "]", ",", ":", '"', "NaN", "\x00", "\n"])) + text[at:]
    elif kind == "duplicate":
        key = json.dumps(draw(st.text(max_size=5)))
        text = "{" + key + ": 1, " + key + ": 2}"
    elif kind == "deep":
        depth = draw(st.integers(min_value=100, max_value=200_000))
        text = "[" * depth + "]" * depth
    return text


@settings(max_examples=400, deadline=None)
@given(text=extra_vars_text())
def test_extra_vars_are_an_object_of_variable_names_or_a_provision_error(text: str) -> None:
    try:
        data = load_extra_vars(text)
    except ProvisionError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400
        return
    assert isinstance(data, dict)
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) for key in data)
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in _leaves(data))


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [leaf for v in node.values() for leaf in _leaves(v)]
    if isinstance(node, list):
        return [leaf for v in node for leaf in _leaves(v)]
    return [node]


KIND_INVENTORY = build(load_site(KIND))
LIMIT_TERMS = st.one_of(
    st.sampled_from(
        [*KIND_INVENTORY.hostvars, *KIND_INVENTORY.groups, "all", "*", "lab-*", "~^lab", "~[", "nohost", ""]
    ),
    st.text(alphabet="ab-_*?[]~!&:,^$.()", max_size=8),
)


@settings(max_examples=400, deadline=None)
@given(terms=st.lists(st.tuples(st.sampled_from(["", "!", "&"]), LIMIT_TERMS), max_size=4))
def test_limit_selects_known_hosts_or_is_a_provision_error(terms: list[tuple[str, str]]) -> None:
    limit = ":".join(prefix + term for prefix, term in terms)
    try:
        selected = select_hosts(KIND_INVENTORY, limit)
    except ProvisionError:
        return
    assert selected <= set(KIND_INVENTORY.hostvars)


# ---------------------------------------------------------------------------------------
# render --out
# ---------------------------------------------------------------------------------------

OUT_STATES = st.sampled_from(
    ["missing", "empty", "file", "render", "render+foreign", "foreign", "bad-manifest", "link", "parent-file"]
)
REL_NAMES = st.sampled_from(["resources.json", "manifests/a.yaml", "manifests/b.yaml", "releases/r.yaml"])


def _snapshot(root: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = "link" if p.is_symlink() else ("dir" if p.is_dir() else p.read_bytes())
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=OUT_STATES, old=st.sets(REL_NAMES), new=st.sets(REL_NAMES), tag=st.text(max_size=5))
def test_render_out_is_replaced_whole_or_refused_untouched(
    state: str, old: set[str], new: set[str], tag: str, tmp_path: Path
) -> None:
    base = Path(tempfile.mkdtemp(dir=tmp_path))
    out = base / "out"
    if state == "file":
        out.write_text("mine")
    elif state == "empty":
        out.mkdir()
    elif state.startswith("render"):
        write_tree(out, {rel: "old" for rel in old})
        if state == "render+foreign":
            (out / "mine.txt").write_text("mine")
    elif state == "foreign":
        out.mkdir()
        (out / "mine.txt").write_text("mine")
    elif state == "bad-manifest":
        out.mkdir()
        (out / MANIFEST).write_text(tag)
    elif state == "link":
        out.symlink_to(base)
    elif state == "parent-file":
        (base / "plain").write_text("mine")
        out = base / "plain" / "out"
    before = _snapshot(base)
    files = {rel: f"new {tag}" for rel in new}
    try:
        write_tree(out, files)
    except OutputError:
        assert _snapshot(base) == before, "a refused render changed the folder"
        assert state not in ("missing", "empty", "render")
        return
    assert state in ("missing", "empty", "render")
    written = _snapshot(out)
    assert {k for k, v in written.items() if v != "dir"} == {*new, MANIFEST}
    assert [p.name for p in base.iterdir()] == ["out"], "a temporary folder was left behind"


# ---------------------------------------------------------------------------------------
# chart values
# ---------------------------------------------------------------------------------------

pinned_helm = charts_conftest.helm  # the chart tests' `helm` fixture, for the values property
MARKER = "zz_injected"
CHART_STRINGS = {
    "tenant": (
        ["tenant-alpha.yaml"],
        [
            "tenant.name",
            "tenant.namespace",
            "kueue.localQueueName",
            "kueue.clusterQueue",
            "rbac.role",
            "networkPolicy.dns.namespace",
            "quota.requestsCpu",
            "nameOverride",
        ],
    ),
    "gpu-burnin": (
        ["gpu-burnin-multinode.yaml"],
        [
            "target.pool",
            "target.hall",
            "target.su",
            "kueue.queueName",
            "images.nccl.repository",
            "images.nccl.tag",
            "shmSize",
            "multiNode.resourceClaimTemplateName",
            "fullnameOverride",
            "nameOverride",
        ],
    ),
}
HOSTILE_TEXT = st.one_of(
    st.text(max_size=12),
    st.builds(
        lambda a, sep, b: f"{a}{sep}{MARKER}: {b}",
        st.text(alphabet="ab1-.", max_size=6),
        st.sampled_from(["\n", "\n  ", '"\n', "', ", " ", "\n---\n", "\r\n", "\u2028"]),
        st.text(alphabet="ab1", max_size=3),
    ),
)


@st.composite
def chart_value(draw: st.DrawFn) -> tuple[str, list[str], str, object]:
    chart = draw(st.sampled_from(sorted(CHART_STRINGS)))
    fixture, keys = CHART_STRINGS[chart]
    key = draw(st.sampled_from(keys))
    value: object = draw(HOSTILE_TEXT)
    if draw(st.integers(min_value=0, max_value=5)) == 0:
        value = draw(st.sampled_from([{MARKER: 1}, [MARKER], 1, True, None]))
    return chart, fixture, key, value


@settings(max_examples=80, deadline=None)
@given(case=chart_value())
def test_no_chart_value_injects_a_key(pinned_helm: Path, case: tuple[str, list[str], str, object]) -> None:
    chart, fixture, key, value = case
    result = run_helm(pinned_helm, template_args(chart, fixture, {key: value}))
    if result.returncode != 0:
        assert "panic" not in result.stderr, result.stderr
        return
    for doc in yaml.safe_load_all(result.stdout):
        assert MARKER not in json.dumps(_keys_of(doc)), (key, value)


def _keys_of(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [str(k) for k in node] + [k for v in node.values() for k in _keys_of(v)]
    if isinstance(node, list):
        return [k for v in node for k in _keys_of(v)]
    return []


# ---------------------------------------------------------------------------------------
# CLI options
# ---------------------------------------------------------------------------------------


class _FakeRunner:
    """Stands in for ansible-runner once every check has passed: nothing runs."""

    rc = 0
    status = "successful"

    def __init__(self, **kwargs: Any) -> None:
        self.stats: dict[str, dict[str, int]] = {}
        self.config = type("Config", (), {"artifact_dir": str(kwargs["artifact_dir"])})()

    def run(self) -> None:
        return None


OPTION_VALUES = st.one_of(
    st.sampled_from(["", "-", "--", "dev", "c1", "lab-*", "nope", "0", "-1", "json", "yaml", "table", "@"]),
    st.text(max_size=8),
)


@st.composite
def cli_argv(draw: st.DrawFn) -> list[str]:
    site = draw(st.sampled_from([str(KIND), "missing.yaml", "/dev/null", "", "."]))
    command = draw(st.sampled_from(["plan", "check", "inventory", "provision", "render"]))
    options = {
        "plan": ["--format", "--policy"],
        "check": ["--format", "--policy", "--stack"],
        "inventory": ["--cluster", "--format"],
        "provision": ["--cluster", "--limit", "--extra-vars", "--keep-runs", "--inventory", "--check"],
        "render": ["--stack", "--out"],
    }[command]
    argv = [command]
    if command == "provision":
        argv.append(draw(st.sampled_from(["validate.yml", "health.yml", "nope.yml", ""])))
    if command != "render":
        argv.append(site)
    for option in draw(st.lists(st.sampled_from(options), max_size=3)):
        argv.append(option)
        if option != "--check":
            argv.append(draw(OPTION_VALUES))
    return argv


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=cli_argv())
def test_cli_options_end_in_an_exit_code_never_a_traceback(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import ansible_runner.interface

    import gigafactory.cli.render as cli_render

    monkeypatch.setattr(ansible_runner.interface, "init_runner", _FakeRunner)
    monkeypatch.setattr(
        cli_render, "render_stack", lambda *_a, **_k: (_ for _ in ()).throw(OutputError("stub"))
    )
    monkeypatch.chdir(REPO)
    if argv[0] == "provision":
        argv = [*argv, "--artifacts", str(tmp_path / "arts")]
    monkeypatch.setattr(sys, "argv", ["gigafactory", *argv])
    code: object = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code in (0, 1, 2, None), (argv, code, err)
    assert "Traceback" not in err, err
    if code == 2 and err.startswith("gigafactory: error:"):
        assert len(err.strip().splitlines()) == 1, err
