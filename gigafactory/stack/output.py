"""The files `render --out` writes, written safely.

A render folder is replaced as a whole: the new files go to a hidden temporary folder beside
it, which is renamed into place only when complete, so an interrupted render (Ctrl-C, a full
disk) never leaves a folder that looks complete. A manifest (MANIFEST) lists the files a
render wrote; a later render replaces a folder only when it is empty or holds exactly the
files its manifest lists, so files this tool did not write are never deleted. A path that is
a file, a link or a non-empty folder that is not an earlier render is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import yaml

from gigafactory.errors import GigafactoryError

if TYPE_CHECKING:
    from gigafactory.stack.render import RenderResult

MANIFEST = ".gigafactory-render.json"
"""Name of the manifest in a render folder: ``{"generator": ..., "files": [relative paths]}``."""

GENERATOR = "gigafactory render"
_SHOWN = 3  # foreign files named in an error message


class OutputError(GigafactoryError):
    """A render folder cannot be written without touching files this tool did not write."""


def render_files(result: RenderResult) -> dict[str, str]:
    """The render's files by relative path: resources.json, outputs.json, manifests/ (plain
    Kubernetes objects) and releases/ (Helm releases)."""
    from gigafactory.stack.render import RELEASE_TYPE, _file_name, is_plain_object

    files = {
        "resources.json": json.dumps(result.to_json(), indent=2) + "\n",
        "outputs.json": json.dumps(result.outputs, indent=2) + "\n",
    }
    for resource in result.resources:
        inputs = resource["inputs"]
        if is_plain_object(resource):
            meta = inputs.get("metadata", {})
            name = _file_name(inputs["kind"], meta.get("namespace", ""), meta.get("name", resource["name"]))
            head = {k: inputs[k] for k in ("apiVersion", "kind", "metadata") if k in inputs}
            obj = {**head, **{k: v for k, v in inputs.items() if k not in head}}
            files[f"manifests/{name}"] = yaml.safe_dump(obj, sort_keys=False)
        elif resource["type"] == RELEASE_TYPE:
            release = {
                "name": inputs.get("name", resource["name"]),
                "chart": inputs.get("chart"),
                "version": inputs.get("version"),
                "repository": inputs.get("repositoryOpts", {}).get("repo"),
                "namespace": inputs.get("namespace"),
                "values": inputs.get("values", {}),
            }
            files[f"releases/{_file_name(release['name'])}"] = yaml.safe_dump(release, sort_keys=False)
    return files


def check_target(out: Path) -> None:
    """Raise OutputError now when ``out`` could not be written (before any work is done)."""
    _earlier_render(out)
    for parent in out.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise OutputError(f"{out}: {parent} is a file, not a folder")
            break


def write_render(result: RenderResult, out: Path) -> None:
    """Write the render's files as the folder ``out`` (see the module docstring)."""
    write_tree(out, render_files(result))


def write_tree(out: Path, files: dict[str, str]) -> None:
    """Make ``out`` a folder holding exactly ``files`` (relative POSIX path -> text) and the
    manifest, atomically. Raises OutputError when ``out`` is not ours to replace."""
    for rel in files:
        parts = PurePosixPath(rel).parts
        if not parts or rel.startswith("/") or ".." in parts or rel == MANIFEST:
            raise OutputError(f"{rel!r} is not a path inside the render folder")
    try:
        _write_tree(out, files)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write: {exc.strerror or exc}") from None


def _write_tree(out: Path, files: dict[str, str]) -> None:
    previous = _earlier_render(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        for rel, text in sorted(files.items()):
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        manifest = {"generator": GENERATOR, "files": sorted(files)}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it 0700; a render folder is not secret
        if previous is None:
            os.rename(staging, out)
            return
        _swap(out, staging, previous)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # only this call's files are in it
        raise


def _swap(out: Path, staging: Path, previous: list[str]) -> None:
    """Put ``staging`` in place of the earlier render ``out``; delete only the files its
    manifest lists (and the folders they leave empty)."""
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rmdir(old)
    os.rename(out, old)
    try:
        os.rename(staging, out)
    except BaseException:
        os.rename(old, out)  # put the earlier render back: never no folder at all
        raise
    for rel in [*previous, MANIFEST]:
        with contextlib.suppress(FileNotFoundError):
            (old / rel).unlink()
    for dirpath, _dirnames, _files in os.walk(old, topdown=False):
        with contextlib.suppress(OSError):  # a folder someone added a file to stays
            os.rmdir(dirpath)


def _earlier_render(out: Path) -> list[str] | None:
    """None when ``out`` does not exist; the files of an earlier render (or [] for an empty
    folder) when it may be replaced; OutputError otherwise."""
    if out.is_symlink():
        raise OutputError(f"{out} is a symbolic link; give the folder itself")
    if not out.exists():
        return None
    if not out.is_dir():
        raise OutputError(f"{out} is a file, not a folder; give a folder (it is created if missing)")
    entries = sorted(_entries(out))
    if not entries:
        return []
    listed = _manifest_files(out / MANIFEST)
    if listed is None:
        raise OutputError(
            f"{out} is not empty and is not an earlier render (no valid {MANIFEST}); "
            "give an empty or new folder"
        )
    allowed = set(listed) | {MANIFEST}
    for rel in listed:
        allowed.update(str(p) for p in PurePosixPath(rel).parents if str(p) != ".")
    foreign = [rel for rel in entries if rel not in allowed or (out / rel).is_symlink()]
    if foreign:
        shown = ", ".join(foreign[:_SHOWN]) + (
            f" and {len(foreign) - _SHOWN} more" if len(foreign) > _SHOWN else ""
        )
        raise OutputError(
            f"{out} holds files the earlier render did not write ({shown}); move them away first"
        )
    return listed


def _entries(root: Path) -> list[str]:
    """Every file, folder and link below ``root``, as relative POSIX paths."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath).relative_to(root)
        for name in [*dirnames, *filenames]:
            out.append((base / name).as_posix())
    return out


def _manifest_files(path: Path) -> list[str] | None:
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 16 << 20:
            return None
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("generator") != GENERATOR:
        return None
    files = data.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    for rel in files:
        parts = PurePosixPath(rel).parts
        if not parts or rel.startswith("/") or ".." in parts or rel == MANIFEST:
            return None  # a manifest that points outside the folder is not ours
    return list(files)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
