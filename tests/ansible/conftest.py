"""Harness for the Ansible tests: a private Docker engine from Debian, a Debian 12 node image
built from debootstrap (never pulled), container nodes and a stand-in vendor apt mirror.

Everything lives under one session directory and is removed at the end; the engine is stopped
by its pid file. The debootstrap tarball is cached (scripts/setup-docker-nodes.sh).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ansible.standin_repo import build_repo

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
PROJECT = PLAYBOOKS / "project"
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", str(REPO / ".venv"))) / "bin"
CACHE = Path(os.environ.get("GF_CACHE_DIR", "/var/cache/gigafactory"))
IMAGE = "gigafactory/node:bookworm"
MIRROR_IN_NODE = "/srv/gf-mirror"
DOCKER = shutil.which("docker", path="/usr/bin") or "docker"
DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "containers: needs the Docker engine and the debootstrap node image")


@pytest.fixture(autouse=True, scope="session")
def _private_fact_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Ansible's fact cache (ansible.cfg: jsonfile under ~/.cache) for this session only.

    Facts gathered by an earlier run on the same host names (lab-r0002-n01 ...) otherwise show up
    in `ansible-inventory --list` and in hostvars, so a test's result would depend on what ran
    on this machine before it. Every ansible command and ansible-runner call of the tests
    inherits os.environ.
    """
    key = "ANSIBLE_CACHE_PLUGIN_CONNECTION"
    before = os.environ.get(key)
    os.environ[key] = str(tmp_path_factory.mktemp("ansible-facts"))
    yield
    if before is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = before


def ansible_env(**extra: str) -> dict[str, str]:
    """Environment for ansible commands run from the tests: the project's config, the venv's tools."""
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(PLAYBOOKS / "ansible.cfg")
    env["PATH"] = f"{VENV_BIN}:/usr/bin:{env.get('PATH', '')}"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    env.update(extra)
    return env


@dataclass
class PlaybookResult:
    rc: int
    stdout: str
    stats: dict[str, dict[str, int]]
    plays: list[dict[str, Any]]

    def changed(self) -> int:
        return sum(s.get("changed", 0) for s in self.stats.values())

    def task_results(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(task name, host, result) for every task result of the run, in order."""
        for play in self.plays:
            for task in play.get("tasks", []):
                for host, result in task.get("hosts", {}).items():
                    yield task["task"]["name"], host, result

    def failures(self) -> str:
        """One line per failed or unreachable task result, for assertion messages."""
        lines = [
            f"{name} @ {host}: {str(r.get('msg', ''))[:400]} {_ends(str(r.get('stderr', '')))}"
            for name, host, r in self.task_results()
            if r.get("failed") or r.get("unreachable")
        ]
        return "\n".join(lines) or self.stdout[-3000:]

    def changed_tasks(self) -> list[str]:
        return [f"{name} @ {host}" for name, host, r in self.task_results() if r.get("changed")]


def _ends(text: str, head: int = 300, tail: int = 1200) -> str:
    """The start and the end of a long output (a command's error is usually its last lines)."""
    return text if len(text) <= head + tail else f"{text[:head]} [...] {text[-tail:]}"


def run_playbook(
    playbook: str,
    inventory: Path,
    *,
    extra_vars: dict[str, Any] | None = None,
    limit: str | None = None,
    tags: list[str] | None = None,
    timeout: int = 900,
) -> PlaybookResult:
    """Run an entry playbook of playbooks/project with the json callback; return rc, output, stats."""
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(PROJECT / playbook)]
    if extra_vars:
        cmd += ["--extra-vars", json.dumps(extra_vars)]
    if limit:
        cmd += ["--limit", limit]
    if tags:
        cmd += ["--tags", ",".join(tags)]
    env = ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=PROJECT)
    stats: dict[str, dict[str, int]] = {}
    plays: list[dict[str, Any]] = []
    try:
        doc = json.loads(proc.stdout)
        stats, plays = doc.get("stats", {}), doc.get("plays", [])
    except json.JSONDecodeError:
        pass
    return PlaybookResult(proc.returncode, proc.stdout + proc.stderr, stats, plays)


@dataclass
class Engine:
    sock: str

    def docker(self, *args: str, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DOCKER, "-H", f"unix://{self.sock}", *args],
            check=check,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def exec(self, node: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.docker("exec", node, *cmd, check=check)

    def read(self, node: str, path: str) -> str:
        return self.exec(node, "cat", path).stdout


def _unmount_below(directory: Path) -> None:
    """Unmount what the engine left mounted under ``directory`` (its network namespace), deepest first."""
    prefix = str(directory) + "/"
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", point], check=False, capture_output=True)


def _needs_root_and_tools() -> str | None:
    if os.geteuid() != 0:
        return "the container tests run a Docker engine and need root"
    return None


@pytest.fixture(scope="session")
def session_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="gf-ansible-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def engine(session_dir: Path) -> Iterator[Engine]:
    """A Docker engine on a private socket: no bridge, no iptables changes; stopped by pid file."""
    reason = _needs_root_and_tools()
    if reason and os.environ.get("CI"):
        pytest.fail(f"CI must run the container tests: {reason}")  # never a silent green CI
    if reason:
        pytest.skip(reason)
    subprocess.run(
        ["bash", str(REPO / "scripts" / "setup-docker-nodes.sh")],
        check=True,
        env={**os.environ, "GF_CACHE_DIR": str(CACHE)},
    )
    root = session_dir / "docker"
    sock = str(session_dir / "docker.sock")
    pidfile = session_dir / "docker.pid"
    log = open(session_dir / "dockerd.log", "w")  # noqa: SIM115 - closed after the engine stops
    subprocess.Popen(
        [
            "dockerd",
            "--host",
            f"unix://{sock}",
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "--pidfile",
            str(pidfile),
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            "--ip6tables=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    eng = Engine(sock)
    deadline = time.monotonic() + 60
    while eng.docker("info", check=False, timeout=10).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"dockerd did not start: {(session_dir / 'dockerd.log').read_text()[-2000:]}")
        time.sleep(0.5)
    try:
        yield eng
    finally:
        running = eng.docker("ps", "-aq", check=False).stdout.split()
        if running:
            eng.docker("rm", "-f", *running, check=False)
        if pidfile.exists():
            pid = int(pidfile.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.2)
        log.close()
        _unmount_below(session_dir)


@pytest.fixture(scope="session")
def node_image(engine: Engine) -> str:
    tarball = CACHE / "node-bookworm-r2.tar"
    with open(tarball, "rb") as f:
        subprocess.run(
            [DOCKER, "-H", f"unix://{engine.sock}", "import", "-", IMAGE],
            stdin=f,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return IMAGE


@pytest.fixture(scope="session")
def mirror(session_dir: Path) -> Path:
    """The stand-in vendor mirror on the controller; mounted read-only into every node."""
    root = session_dir / "mirror"
    build_repo(root, session_dir / "debs")
    return root


def start_nodes(engine: Engine, image: str, mirror: Path, names: list[str]) -> None:
    for name in names:
        engine.docker(
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "host",
            "-v",
            f"{mirror}:{MIRROR_IN_NODE}:ro",
            image,
            "sleep",
            "infinity",
        )


def write_inventory(
    path: Path, engine: Engine, groups: dict[str, Any], hostvars: dict[str, dict[str, Any]]
) -> Path:
    """A static YAML inventory whose hosts are reached through the community.docker connection."""
    conn = {
        "ansible_connection": "community.docker.docker",
        "ansible_docker_extra_args": f"-H unix://{engine.sock}",
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    # Connection variables per host, not on "all": the implicit localhost (the controller, where
    # delegated kubectl calls run) also reads "all" variables.
    data: dict[str, Any] = {"all": {"children": groups}}
    for group in groups.values():
        for host in group.get("hosts", {}):
            group["hosts"][host] = {**hostvars.get(host, {}), **conn}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# The container nodes: real hosts of the reference site (cluster c1), so the kubelet configuration
# the roles write can be compared with the labels and taints the site model computes.
SITE_FILE = REPO / "sites" / "narvik.yaml"
CLUSTER = "c1"
NODE_HOSTS = ["hall-a-r0001-n01", "hall-a-r0001-n02", "hall-a-r0002-n01", "hall-a-r0241-n01"]

# Switches for the container runs: hardware steps off, vendor packages from the stand-in mirror.
CONTAINER_VARS: dict[str, Any] = {
    "gigafactory_apt_mirror_url": f"file://{MIRROR_IN_NODE}",
    "gigafactory_apt_mirror_trusted": True,
    "gigafactory_become": False,
    "os_baseline_hardware": False,
    "nvidia_driver_hardware": False,
    "container_runtime_hardware": False,
    "infiniband_hardware": False,
    "nvme_cache_hardware": False,
    "kubelet_hardware": False,
    "health_hardware": False,
    "os_baseline_ntp_servers": ["ntp.test.invalid"],
    "os_baseline_hugepages": 128,
    "infiniband_ipoib_interfaces": [
        {"name": "ib0", "address": "192.0.2.10/24", "mode": "datagram", "mtu": 4092}
    ],
}


def site_inventory_subset(engine: Engine, path: Path, hosts: list[str], site_file: Path = SITE_FILE) -> Path:
    """A static inventory of ``hosts`` with the variables and group shape the site inventory gives
    them (control-plane hosts also in kube_control_plane, as the site inventory nests them)."""
    from gigafactory.baremetal.inventory import GROUP_CONTROL_PLANE, build
    from gigafactory.site import load_site

    inv = build(load_site(site_file), CLUSTER)
    merged = inv.merged_hostvars()
    control_planes = [h for g in inv.groups[GROUP_CONTROL_PLANE].children for h in inv.groups[g].hosts]
    groups: dict[str, Any] = {
        GROUP_CONTROL_PLANE: {"hosts": dict.fromkeys(h for h in control_planes if h in hosts)}
    }
    for name, group in inv.groups.items():
        members = [h for h in group.hosts if h in hosts]
        if members:
            groups[name] = {"hosts": dict.fromkeys(members)}
    hostvars = {h: {**merged[h], "ansible_host": h} for h in hosts}
    return write_inventory(path, engine, groups, hostvars)


@pytest.fixture(scope="session")
def nodes(engine: Engine, node_image: str, mirror: Path, session_dir: Path) -> Path:
    """Four container nodes named after site hosts; returns their inventory file."""
    start_nodes(engine, node_image, mirror, NODE_HOSTS)
    return site_inventory_subset(engine, session_dir / "nodes.yml", NODE_HOSTS)
