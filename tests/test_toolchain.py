"""The pinned Go toolchain: scripts/toolchain.sh, toolchain/versions.env, gigafactory.toolchain.

Most checks run the script against an empty cache in tmp_path (no Go, no network). The last ones
run the built binaries: they skip on a developer machine without the toolchain, and fail in CI
(env CI set), where `.ci/run` builds it before `make test`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gigafactory import toolchain
from gigafactory.errors import GigafactoryError
from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "toolchain.sh"
PINS = REPO / "toolchain" / "versions.env"
PIN_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")


def _pins(path: Path = PINS) -> list[tuple[int, str, str]]:
    """(line number, key, value) of every KEY=VALUE line."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = PIN_LINE.match(line)
        if match:
            out.append((number, match.group(1), match.group(2).strip('"')))
        else:
            assert not line.strip() or line.startswith("#"), f"versions.env:{number}: not KEY=VALUE: {line!r}"
    return out


def _components() -> list[str]:
    values = {key: value for _, key, value in _pins()}
    return values["TOOLCHAIN_COMPONENTS"].split()


def _script(*args: str, cache: Path, script: Path = SCRIPT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIGAFACTORY_CACHE": str(cache)}
    env.pop("GIGAFACTORY_TOOLCHAIN_BIN", None)
    return subprocess.run(
        ["bash", str(script), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _status(cache: Path, script: Path = SCRIPT) -> dict[str, list[str]]:
    res = _script("status", cache=cache, script=script)
    assert res.returncode == 0, res.stderr
    return {line.split()[0]: line.split()[1:] for line in res.stdout.splitlines()}


def test_pins_have_unique_keys_and_a_comment_each() -> None:
    pins = _pins()
    keys = [key for _, key, _ in pins]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    lines = PINS.read_text(encoding="utf-8").splitlines()
    for number, key, value in pins:
        assert value, f"{key} is empty"
        assert lines[number - 2].startswith("#"), f"{key} has no comment line above it"


def test_status_lists_every_component_missing_in_an_empty_cache(tmp_path: Path) -> None:
    status = _status(tmp_path)
    components = _components()
    # etcd, kubernetes, kubernetes-previous, kwok, controller-gen, kueue, containerd,
    # cni-plugins, pulumi, provider
    assert len(components) == 10
    for name in components:
        version, state, folder = status[name]
        assert state == "missing", status[name]
        assert folder.startswith(f"{tmp_path}/toolchain/{name}-{version}-")
    assert not (tmp_path / "toolchain").exists(), "status must not write to the cache"


def test_changing_one_pin_moves_only_that_components_folder(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, copy / "scripts" / "toolchain.sh")
    shutil.copytree(REPO / "toolchain", copy / "toolchain")
    pins = copy / "toolchain" / "versions.env"
    pins.write_text(pins.read_text(encoding="utf-8").replace("KWOK_VERSION=v0.8.0", "KWOK_VERSION=v0.8.1"))
    before = _status(tmp_path / "cache")
    after = _status(tmp_path / "cache", script=copy / "scripts" / "toolchain.sh")
    changed = {name for name in _components() if before[name] != after[name]}
    assert changed == {"kwok"}
    assert after["kwok"][0] == "v0.8.1"
    assert before["bin-dir"] != after["bin-dir"]


def test_prune_removes_what_the_pins_no_longer_name_and_keeps_the_rest(tmp_path: Path) -> None:
    status = _status(tmp_path)
    current = Path(status["kwok"][2])
    (current / "bin").mkdir(parents=True)
    (current / "bin" / "kwok").write_text("current")
    old = current.with_name("kwok-v0.7.0-0123456789ab")  # an earlier pin's folder
    (old / "bin").mkdir(parents=True)
    (old / "bin" / "kwok").write_bytes(b"x" * 2 * 1024 * 1024)
    (old / "build-seconds").write_text("component=kwok\n")
    dropped = current.with_name("runc-v1.5.3-65795768917c")  # a component the pins no longer have
    (dropped / "bin").mkdir(parents=True)
    (dropped / "build-seconds").write_text("component=runc\n")
    old_bin = current.parent / "bin-00000000deadbeef"
    old_bin.mkdir()
    (current.parent / "manifest-00000000deadbeef.json").write_text("{}")
    stranger = current.parent / "notes"  # not a component folder: never touched
    stranger.mkdir()
    res = _script("prune", cache=tmp_path)
    assert res.returncode == 0, res.stderr
    assert not old.exists() and not old_bin.exists() and not dropped.exists()
    assert not (current.parent / "manifest-00000000deadbeef.json").exists()
    assert (current / "bin" / "kwok").read_text() == "current"
    assert stranger.is_dir()
    assert Path(status["bin-dir"][2]).is_dir(), "the current bin-dir is (re)published"
    assert "removed kwok-v0.7.0-0123456789ab (2 MiB)" in res.stderr
    assert "pruned 4 item(s)" in res.stderr


def test_unknown_component_and_command_fail_with_one_line(tmp_path: Path) -> None:
    for args in (["build", "no-such-thing"], ["frobnicate"], ["kueue-manifests"]):
        res = _script(*args, cache=tmp_path)
        assert res.returncode != 0, args
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert res.stderr.startswith("toolchain: ")


def test_python_finds_the_scripts_manifest_and_names_missing_binaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = _script("bin-dir", cache=tmp_path)
    assert res.returncode == 0, res.stderr
    monkeypatch.setenv("GIGAFACTORY_CACHE", str(tmp_path))
    monkeypatch.delenv("GIGAFACTORY_TOOLCHAIN_BIN", raising=False)
    # same key as the script, so the same manifest and the same bin-dir
    assert toolchain.bin_dir() == Path(res.stdout.strip())
    with pytest.raises(toolchain.ToolchainMissing) as missing:
        toolchain.binary("kube-apiserver")
    assert "'kube-apiserver' (kubernetes v1.36.3)" in str(missing.value)
    assert "`make toolchain`" in str(missing.value)
    with pytest.raises(toolchain.ToolchainMissing, match="make toolchain"):
        toolchain.kueue_manifests()


def test_binary_that_does_not_exist_raises_toolchain_missing() -> None:
    assert issubclass(toolchain.ToolchainMissing, GigafactoryError)
    with pytest.raises(toolchain.ToolchainMissing) as missing:
        toolchain.binary("does-not-exist")
    assert "does-not-exist" in str(missing.value)
    assert "`make toolchain`" in str(missing.value)


def test_bin_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "kubectl"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("GIGAFACTORY_TOOLCHAIN_BIN", str(tmp_path))
    assert toolchain.binary("kubectl") == tool
    with pytest.raises(toolchain.ToolchainMissing, match="GIGAFACTORY_TOOLCHAIN_BIN"):
        toolchain.binary("kwok")


# --- the built toolchain: skip locally when absent, fail in CI ------------------------------------


def _built(name: str) -> Path:
    try:
        return toolchain.binary(name)
    except toolchain.ToolchainMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must build the toolchain first: {exc}")
        pytest.skip(str(exc))


def _output(*cmd: str | Path) -> str:
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout + res.stderr


def test_kube_apiserver_reports_the_pinned_version() -> None:
    assert _output(_built("kube-apiserver"), "--version").strip() == "Kubernetes v1.36.3"


def test_kubectl_reports_the_pinned_client_version() -> None:
    assert "Client Version: v1.36.3" in _output(_built("kubectl"), "version", "--client")


def test_pulumi_reports_the_pinned_version() -> None:
    assert _output(_built("pulumi"), "version").strip() == "v3.274.1"


def test_kueue_crds_and_webhooks_are_generated() -> None:
    _built("kueue")
    folder = toolchain.kueue_manifests()
    crds = {p.name for p in (folder / "crds").glob("*.yaml")}
    assert "kueue.x-k8s.io_clusterqueues.yaml" in crds
    assert "kueue.x-k8s.io_workloads.yaml" in crds
    webhooks = "".join(p.read_text(encoding="utf-8") for p in (folder / "webhooks").glob("*.yaml"))
    assert "kind: MutatingWebhookConfiguration" in webhooks
    assert "kind: ValidatingWebhookConfiguration" in webhooks
