"""`render --out`: a render folder is written atomically, with a manifest, never over files
the render did not write; Ctrl-C anywhere in the CLI is one line and exit 130."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gigafactory.cli.render as cli_render
from gigafactory.cli import app, main
from gigafactory.stack.output import MANIFEST, OutputError, check_target, write_tree

runner = CliRunner()
FILES = {"resources.json": "{}\n", "manifests/a.yaml": "a: 1\n", "releases/r.yaml": "r: 1\n"}


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()}


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name]


def test_a_new_folder_gets_the_files_and_a_manifest(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "out"
    write_tree(out, FILES)
    tree = _tree(out)
    assert json.loads(tree.pop(MANIFEST))["files"] == sorted(FILES)
    assert tree == FILES
    assert _leftovers(out.parent) == []


def test_an_empty_folder_is_used(tmp_path: Path) -> None:
    (tmp_path / "o").mkdir()
    write_tree(tmp_path / "o", FILES)
    assert (tmp_path / "o" / "manifests" / "a.yaml").read_text() == "a: 1\n"


def test_an_earlier_render_is_replaced_and_its_stale_files_go(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, {**FILES, "manifests/stale.yaml": "old\n"})
    write_tree(out, FILES)
    assert set(_tree(out)) == {*FILES, MANIFEST}
    assert _leftovers(tmp_path) == []


def _plant(tmp_path: Path, name: str) -> Path:
    """Each way an --out path can be wrong; returns the path."""
    out = tmp_path / name
    if name == "file":
        out.write_text("precious\n")
    elif name == "fifo":
        os.mkfifo(out)
    elif name == "link-to-folder":
        (tmp_path / "real").mkdir(exist_ok=True)
        out.symlink_to(tmp_path / "real")
    elif name == "dangling-link":
        out.symlink_to(tmp_path / "nowhere")
    elif name == "folder-of-other-files":
        out.mkdir()
        (out / "notes.txt").write_text("precious\n")
    elif name == "folder-with-only-a-subfolder":
        (out / "sub").mkdir(parents=True)
    elif name == "render-plus-foreign-file":
        write_tree(out, FILES)
        (out / "manifests" / "mine.yaml").write_text("precious\n")
    elif name == "render-plus-foreign-link":
        write_tree(out, FILES)
        (out / "link").symlink_to("/etc/passwd")
    elif name == "manifest-not-json":
        out.mkdir()
        (out / MANIFEST).write_text("{oops")
    elif name == "manifest-of-another-tool":
        out.mkdir()
        (out / MANIFEST).write_text(json.dumps({"generator": "other", "files": []}))
    elif name == "manifest-pointing-outside":
        out.mkdir()
        (out / MANIFEST).write_text(json.dumps({"generator": "gigafactory render", "files": ["../x"]}))
    elif name == "manifest-files-not-a-list":
        out.mkdir()
        (out / MANIFEST).write_text(json.dumps({"generator": "gigafactory render", "files": "a"}))
    elif name == "manifest-is-a-folder":
        (out / MANIFEST).mkdir(parents=True)
    elif name == "parent-is-a-file":
        (tmp_path / "plain").write_text("precious\n")
        out = tmp_path / "plain" / "out"
    return out


BAD_OUT = [
    "file",
    "fifo",
    "link-to-folder",
    "dangling-link",
    "folder-of-other-files",
    "folder-with-only-a-subfolder",
    "render-plus-foreign-file",
    "render-plus-foreign-link",
    "manifest-not-json",
    "manifest-of-another-tool",
    "manifest-pointing-outside",
    "manifest-files-not-a-list",
    "manifest-is-a-folder",
    "parent-is-a-file",
]


@pytest.mark.parametrize("name", BAD_OUT)
def test_bad_out_paths_are_refused_and_left_as_they_were(name: str, tmp_path: Path) -> None:
    out = _plant(tmp_path, name)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(OutputError):
        check_target(out)
    with pytest.raises(OutputError):
        write_tree(out, FILES)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    for precious in tmp_path.rglob("*"):
        if (
            precious.is_file()
            and not precious.is_symlink()
            and precious.name in ("notes.txt", "mine.yaml", "plain")
        ):
            assert precious.read_text() == "precious\n"


def test_dev_null_is_refused() -> None:
    with pytest.raises(OutputError, match="is a file"):
        check_target(Path("/dev/null"))


@pytest.mark.parametrize("rel", ["../escape", "/abs", MANIFEST, ""])
def test_files_must_stay_inside_the_folder(rel: str, tmp_path: Path) -> None:
    with pytest.raises(OutputError):
        write_tree(tmp_path / "out", {rel: "x"})
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("earlier", [False, True])
def test_an_interrupted_render_leaves_no_partial_folder(
    earlier: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    if earlier:
        write_tree(out, FILES)
    before = _tree(out) if earlier else None
    calls = iter(range(100))
    real = Path.write_text

    def interrupted(self: Path, *args: object, **kwargs: object) -> int:
        if next(calls) == 1:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_tree(out, {**FILES, "manifests/new.yaml": "n\n"})
    monkeypatch.undo()
    assert (_tree(out) if out.exists() else None) == before
    assert _leftovers(tmp_path) == []


def test_an_interrupted_swap_puts_the_earlier_render_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    write_tree(out, FILES)
    before = _tree(out)
    real = os.rename
    calls = iter(range(100))

    def rename(src: object, dst: object) -> None:
        if next(calls) == 1:  # the staging folder into place
            raise KeyboardInterrupt
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        write_tree(out, {"resources.json": "new\n"})
    monkeypatch.undo()
    assert _tree(out) == before
    assert _leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["file", "folder-of-other-files", "render-plus-foreign-file", "parent-is-a-file"]
)
def test_render_refuses_a_bad_out_before_rendering(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("rendered before checking --out")

    monkeypatch.setattr(cli_render, "render_stack", never)
    out = _plant(tmp_path, name)
    res = runner.invoke(app, ["render", "--stack", "narvik-c1", "--out", str(out)])
    # the CLI's one error handler: one line on stderr, exit 2
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("gigafactory: error: ") and res.stderr.count("\n") == 1


def _main(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[object, str]:
    monkeypatch.setattr(sys, "argv", ["gigafactory", *argv])
    with pytest.raises(SystemExit) as exc:
        main()
    return exc.value.code, capsys.readouterr().err


def test_bad_out_through_main_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _plant(tmp_path, "file")
    code, err = _main(["render", "--stack", "narvik-c1", "--out", str(out)], monkeypatch, capsys)
    assert code == 2
    assert err.count("\n") == 1 and str(out) in err


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        (["render", "--stack", "narvik-c1"], "gigafactory.cli.render.render_stack"),
        (["plan", "sites/kind.yaml"], "gigafactory.cli.site.make_plan"),
        (["provision", "validate.yml", "sites/kind.yaml"], "gigafactory.cli.provision.run"),
    ],
)
def test_ctrl_c_is_one_line_and_exit_130(
    argv: list[str],
    target: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(target, interrupted)
    if argv[0] == "render":
        argv = [*argv, "--out", str(tmp_path / "out")]
    code, err = _main(argv, monkeypatch, capsys)
    assert code == 130
    assert err.strip().splitlines() == ["gigafactory: interrupted"], err
    assert not (tmp_path / "out").exists()
