"""The simulator of one stack: ``up``, ``down``, ``status``, ``kubeconfig_path``.

State lives outside the work tree, one folder per stack:
``${GIGAFACTORY_SIM_DIR:-/var/tmp/gigafactory-sim}/<stack>/``::

    state.json                 stack, site, cluster, phase, ports, every started process
    kubeconfig                 admin kubeconfig (stable path: `gigafactory sim kubeconfig`)
    pki/                       certificates and keys (pki.py)
    pids/<process>.pid         one pid file per process
    logs/<process>.log         stdout and stderr of each process
    etcd/                      etcd's data
    kwok/, kueue/              their configuration (and Kueue's webhook cert dir)

Every process listens on 127.0.0.1 only, on ports free when ``up`` starts. ``up`` after a crash
(processes killed, state left) stops whatever of ours still runs, removes the old state and
starts fresh; ``up`` of a healthy simulator only makes sure every node exists and is Ready.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from gigafactory import toolchain
from gigafactory.errors import GigafactoryError
from gigafactory.project import project_dir
from gigafactory.sim import kube, kueue, kwok, nodes, pki, procs
from gigafactory.site.model import Cluster, Site
from gigafactory.stack.render import load_stack_config, resolve_target

ENV_DIR = "GIGAFACTORY_SIM_DIR"
DEFAULT_ROOT = Path("/var/tmp/gigafactory-sim")
STATE_FILE = "state.json"
KUBECONFIG = "kubeconfig"

# Start order; stopped in reverse.
PROCESSES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kueue")
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"

# Readiness timeouts (seconds): generous for a loaded 2-core CI machine.
ETCD_TIMEOUT = 30.0
APISERVER_TIMEOUT = 90.0
COMPONENT_TIMEOUT = 60.0
KUEUE_TIMEOUT = 90.0
NODES_TIMEOUT = 120.0
NODES_PER_SECOND = 15.0
"""Slowest rate at which nodes are expected to be created and made Ready on a loaded 2-core
machine (the wait for a 4,256-node cluster: 120 + 4,256 / 15 = 404 s)."""
CLIENT_QPS = 5000
CLIENT_BURST = 10000
"""Client rate limits of the controller manager and the scheduler (kwokctl's "unlimited"). With
the defaults (20 qps, burst 30) the node lifecycle controller, which must remove the not-ready
taint the API server puts on every new node, needs 4,256 / 20 = 213 s for c1 alone."""
NODE_MONITOR_GRACE = "150s"
"""Above kwok.LEASE_SECONDS (120 s): a lease renewed every 30 s is never read as stale."""
NODE_STARTUP_GRACE = "600s"
"""How long a new node may go without a Ready condition before the node lifecycle controller
marks it Unknown and taints it unreachable (default 60 s). c1's nodes are created over ~40 s
and KWOK reaches the last of them ~2 minutes later on the loaded machine; with the default, 404
of them were tainted unreachable and waited for the controller's slow untainting."""
STOP_TIMEOUT = 10.0
STALE_STOP_TIMEOUT = 3.0
"""Leftovers of a crash may have lost their etcd: do not wait long for them."""

_STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

Progress = Callable[[str], None]


class SimError(GigafactoryError):
    """Bad input or a state the user must resolve (the message says how). CLI exit 2."""


class SimUpFailed(GigafactoryError):
    """The simulator did not come up; the message names the process and its log. CLI exit 1."""


def _quiet(_: str) -> None:
    pass


# --- where things are ----------------------------------------------------------------------------


def state_root() -> Path:
    return Path(os.environ.get(ENV_DIR) or DEFAULT_ROOT)


def state_dir(stack: str) -> Path:
    if not _STACK_NAME.match(stack):
        raise SimError(f"stack name {stack!r} is not a plain name; allowed: letters, digits, '.', '_', '-'")
    return state_root() / stack


def kubeconfig_path(stack: str) -> Path:
    """Where the admin kubeconfig of the stack's simulator is (stable; exists while it is up)."""
    return state_dir(stack) / KUBECONFIG


def target(stack: str, root: Path | None = None) -> tuple[Site, Cluster]:
    """The site and cluster a stack simulates (StackConfigError for an unknown stack)."""
    base = root or project_dir()
    config = load_stack_config(stack, base)
    return resolve_target(
        str(config.get("site")), str(config.get("cluster")), config.get("platform") or None, base
    )


# --- state ---------------------------------------------------------------------------------------


@dataclass
class State:
    """``state.json``: what this stack's simulator is and which processes it started."""

    stack: str
    site: str
    cluster: str
    phase: str
    """starting, up or failed."""
    ports: dict[str, int] = field(default_factory=dict)
    processes: list[procs.Proc] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    owner: procs.Proc | None = None
    """The ``sim up`` process bringing it up (phase starting): a second ``up`` must not kill it."""

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "site": self.site,
            "cluster": self.cluster,
            "phase": self.phase,
            "ports": self.ports,
            "processes": [p.to_json() for p in self.processes],
            "started_at": self.started_at,
            "owner": self.owner.to_json() if self.owner else None,
        }

    def save(self, folder: Path) -> None:
        tmp = folder / f"{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(folder / STATE_FILE)

    @classmethod
    def load(cls, folder: Path) -> State | None:
        """The saved state, or None when there is none or it is unreadable."""
        try:
            data = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
            return cls(
                stack=str(data["stack"]),
                site=str(data["site"]),
                cluster=str(data["cluster"]),
                phase=str(data["phase"]),
                ports={str(k): int(v) for k, v in data.get("ports", {}).items()},
                processes=[procs.Proc.from_json(p) for p in data.get("processes", [])],
                started_at=float(data.get("started_at", 0.0)),
                owner=procs.Proc.from_json(data["owner"]) if data.get("owner") else None,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _ours_from_pid_files(folder: Path) -> list[procs.Proc]:
    """Processes named by pid files whose command line mentions ``folder`` (a crash before
    state.json listed them); a pid reused by anything else is left alone."""
    found = []
    for pid_file in sorted((folder / "pids").glob("*.pid")):
        try:
            pid = int(pid_file.read_text(encoding="utf-8").strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            continue
        started = procs.start_time(pid)
        if started is not None and str(folder) in cmdline:
            found.append(
                procs.Proc(pid_file.stem, pid, started, str(folder / "logs" / f"{pid_file.stem}.log"))
            )
    return found


def _known_processes(folder: Path) -> list[procs.Proc]:
    state = State.load(folder)
    listed = state.processes if state else []
    names = {p.name for p in listed}
    return listed + [p for p in _ours_from_pid_files(folder) if p.name not in names]


# Stopped tier by tier: clients first, then the API server while etcd still answers (an API
# server whose etcd is gone hangs on shutdown), then etcd.
STOP_TIERS = (
    ("kueue", "kwok", "kube-scheduler", "kube-controller-manager"),
    ("kube-apiserver",),
    ("etcd",),
)


def _stop_order(items: list[procs.Proc]) -> list[procs.Proc]:
    rank = {name: i for i, name in enumerate(PROCESSES)}
    return sorted(items, key=lambda p: -rank.get(p.name, len(PROCESSES)))


def _stop_all(items: list[procs.Proc], timeout: float = STOP_TIMEOUT) -> list[str]:
    """Stop ``items`` tier by tier (anything unknown first); the names that needed SIGKILL."""
    tiered = {name for tier in STOP_TIERS for name in tier}
    batches = [[p for p in items if p.name not in tiered]]
    batches += [[p for p in items if p.name in tier] for tier in STOP_TIERS]
    killed: list[str] = []
    for batch in batches:
        if batch:
            killed += procs.stop(batch, timeout=timeout)
    return killed


def _looks_like_state(folder: Path) -> bool:
    return (folder / STATE_FILE).exists() or (folder / "pids").is_dir() or not any(folder.iterdir())


# --- the API -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimStatus:
    stack: str
    site: str
    cluster: str
    state_dir: str
    kubeconfig: str
    processes: dict[str, bool]
    """Process name -> running."""
    pools: list[nodes.PoolStatus]
    api_server: str = ""

    @property
    def running(self) -> bool:
        return bool(self.processes) and all(self.processes.values())

    @property
    def ready(self) -> bool:
        """Every process runs and every planned node is Ready."""
        return self.running and all(p.ready == p.planned for p in self.pools)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "site": self.site,
            "cluster": self.cluster,
            "state_dir": self.state_dir,
            "kubeconfig": self.kubeconfig,
            "api_server": self.api_server,
            "running": self.running,
            "ready": self.ready,
            "processes": self.processes,
            "pools": [p.to_json() for p in self.pools],
        }


def api_client(stack: str) -> client.ApiClient:
    """A ``kubernetes`` client for the stack's simulator (admin), sized for parallel requests."""
    path = kubeconfig_path(stack)
    if not path.is_file():
        raise SimError(
            f"the simulator of stack {stack!r} is not up (no {path}); run `gigafactory sim up --stack {stack}`"
        )
    return kube.api_client(path)


def status(stack: str, root: Path | None = None) -> SimStatus:
    """Processes running and nodes per pool (planned, present, Ready). Never starts anything."""
    _, cluster = target(stack, root)
    folder = state_dir(stack)
    state = State.load(folder) if folder.is_dir() else None
    running = {p.name: procs.running(p) for p in state.processes} if state else {}
    pools = [nodes.PoolStatus(p.name, p.node_count, 0, 0) for p in cluster.pools]
    server = (
        f"https://127.0.0.1:{state.ports['kube-apiserver']}"
        if state and "kube-apiserver" in state.ports
        else ""
    )
    if running.get("kube-apiserver"):
        # An API server that does not answer reads as no node present.
        with contextlib.suppress(kube.Unreachable, nodes.NodeCreateError), api_client(stack) as api:
            pools = nodes.pool_status(cluster, nodes.list_nodes(api, cluster))
    return SimStatus(
        stack=stack,
        site=state.site if state else cluster.site,
        cluster=cluster.name,
        state_dir=str(folder),
        kubeconfig=str(kubeconfig_path(stack)),
        processes=running,
        pools=pools,
        api_server=server,
    )


def down(stack: str, progress: Progress = _quiet) -> list[str]:
    """Stop every process the stack's simulator started (SIGTERM, SIGKILL after a timeout) and
    remove its state. Returns the names of the processes stopped."""
    folder = state_dir(stack)
    if not folder.exists():
        progress(f"sim {stack}: not running (no {folder})")
        return []
    if not _looks_like_state(folder):
        raise SimError(f"{folder} is not a simulator state folder; remove it by hand or set {ENV_DIR}")
    live = [p for p in _stop_order(_known_processes(folder)) if procs.running(p)]
    for proc in live:
        progress(f"sim {stack}: stopping {proc.name} (pid {proc.pid})")
    killed = _stop_all(live)
    if killed:
        progress(f"sim {stack}: killed after {STOP_TIMEOUT:.0f} s: {', '.join(killed)}")
    left = [p for p in live if procs.running(p)]
    if left:
        raise SimError(
            f"could not stop {', '.join(f'{p.name} (pid {p.pid})' for p in left)}; state kept in {folder}"
        )
    shutil.rmtree(folder)
    progress(f"sim {stack}: down, removed {folder}")
    return [p.name for p in live]


def kueue_log_args() -> list[str]:
    """Kueue's log verbosity flag from ``$GIGAFACTORY_SIM_KUEUE_LOG_LEVEL`` (none when unset);
    SimError when it is not a level 1-10."""
    value = os.environ.get(kueue.DEBUG_LOG_ENV, "").strip()
    if not value:
        return []
    if not value.isdigit() or not 1 <= int(value) <= 10:
        raise SimError(f"{kueue.DEBUG_LOG_ENV}={value!r} is not a log level; allowed: 1 to 10")
    return [f"--zap-log-level={int(value)}"]


def up(stack: str, progress: Progress = _quiet, root: Path | None = None) -> SimStatus:
    """Bring the stack's simulator up and wait until every planned node is Ready and Kueue
    serves. Idempotent; recovers from a crash by starting fresh. Raises SimUpFailed (the
    processes are stopped, the logs kept) or SimError / another GigafactoryError on bad input."""
    site, cluster = target(stack, root)
    kueue_log_args()  # bad input before anything starts
    binaries = {name: toolchain.binary(name) for name in (*PROCESSES[:4], "kwok", "kueue")}
    manifests = toolchain.kueue_manifests()
    folder = state_dir(stack)
    if folder.exists():
        if not _looks_like_state(folder):
            raise SimError(f"{folder} exists and is not a simulator state folder; remove it or set {ENV_DIR}")
        state = State.load(folder)
        known = _known_processes(folder)
        alive = [p for p in known if procs.running(p)]
        if state and state.phase == "up" and known and len(alive) == len(known):
            progress(f"sim {stack}: already running; checking nodes")
            return _ensure_nodes(stack, cluster, progress)
        if state and state.phase == "starting" and state.owner and procs.running(state.owner):
            raise SimError(
                f"another `gigafactory sim up` (pid {state.owner.pid}) is starting this simulator; "
                f"wait for it, or stop it with `gigafactory sim down --stack {stack}`"
            )
        progress(
            f"sim {stack}: found a stale simulator in {folder} ({len(alive)} of {len(known)} processes "
            "running); stopping them and starting fresh"
        )
        _stop_all(alive, timeout=STALE_STOP_TIMEOUT)
        if any(procs.running(p) for p in alive):
            raise SimError(f"could not stop the stale simulator's processes; see {folder / STATE_FILE}")
        shutil.rmtree(folder)
    began = time.monotonic()
    try:
        _start(stack, site, cluster, binaries, manifests, folder, progress)
    except (
        procs.ProcessFailed,
        kueue.KueueSetupError,
        nodes.NodeCreateError,
        kube.Unreachable,
        TimeoutError,
    ) as exc:
        _abort(folder)
        raise SimUpFailed(f"sim {stack} did not come up: {exc}; logs kept in {folder / 'logs'}") from exc
    except BaseException:
        _abort(folder)
        raise
    result = status(stack, root)
    progress(
        f"sim {stack}: up in {time.monotonic() - began:.1f} s: {sum(p.ready for p in result.pools)} nodes Ready"
    )
    return result


def _abort(folder: Path) -> None:
    """Stop what a failed ``up`` started; keep the state folder (logs) marked failed."""
    state = State.load(folder)
    _stop_all([p for p in _known_processes(folder) if procs.running(p)])
    if state:
        state.phase = "failed"
        state.save(folder)


def _child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",)}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return {**env, **(extra or {})}


def _start(
    stack: str,
    site: Site,
    cluster: Cluster,
    binaries: dict[str, Path],
    manifests: Path,
    folder: Path,
    progress: Progress,
) -> None:
    folder.mkdir(parents=True, mode=0o700)
    names = (
        "etcd",
        "etcd-peer",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        "kueue-webhook",
        "kueue-health",
        "kueue-metrics",
    )
    ports = dict(zip(names, procs.free_ports(len(names)), strict=True))
    me = procs.start_time(os.getpid())
    owner = procs.Proc("sim-up", os.getpid(), me, "") if me is not None else None
    state = State(
        stack=stack, site=site.name, cluster=cluster.name, phase="starting", ports=ports, owner=owner
    )
    state.save(folder)
    logs, pids = folder / "logs", folder / "pids"

    def launch(name: str, argv: list[str | Path], env: dict[str, str] | None = None) -> procs.Proc:
        proc = procs.start(
            name, argv, logs / f"{name}.log", pids / f"{name}.pid", env=_child_env(env), cwd=folder
        )
        state.processes.append(proc)
        state.save(folder)
        return proc

    t0 = time.monotonic()
    keys = pki.create(folder / "pki", kueue.NAMESPACE, kueue.SERVICE)
    loop = "http://127.0.0.1"
    etcd = launch(
        "etcd",
        [
            binaries["etcd"],
            "--name=sim",
            f"--data-dir={folder / 'etcd'}",
            f"--listen-client-urls={loop}:{ports['etcd']}",
            f"--advertise-client-urls={loop}:{ports['etcd']}",
            f"--listen-peer-urls={loop}:{ports['etcd-peer']}",
            f"--initial-advertise-peer-urls={loop}:{ports['etcd-peer']}",
            f"--initial-cluster=sim={loop}:{ports['etcd-peer']}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
    )
    procs.wait_ready(etcd, lambda: procs.http_ok(f"{loop}:{ports['etcd']}/health"), ETCD_TIMEOUT, "healthy")
    progress(f"sim {stack}: etcd healthy ({time.monotonic() - t0:.1f} s)")

    apiserver = launch(
        "kube-apiserver",
        [
            binaries["kube-apiserver"],
            f"--etcd-servers={loop}:{ports['etcd']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['kube-apiserver']}",
            f"--tls-cert-file={keys.crt('apiserver')}",
            f"--tls-private-key-file={keys.key('apiserver')}",
            f"--client-ca-file={keys.ca_crt}",
            "--authorization-mode=Node,RBAC",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={keys.sa_pub}",
            f"--service-account-signing-key-file={keys.sa_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # The `kubernetes` Service's endpoint would be 127.0.0.1, which Endpoints reject.
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--profiling=false",
            # One client machine, all of it ours: no in-flight limits and no priority and
            # fairness queueing (what kwokctl does for large simulated clusters).
            "--max-requests-inflight=0",
            "--max-mutating-requests-inflight=0",
            "--enable-priority-and-fairness=false",
            # TaintNodesByCondition puts node.kubernetes.io/not-ready on every new node, which
            # the node lifecycle controller lifts one GET and PATCH at a time with 8 workers:
            # measured ~8 nodes/s on the loaded 2-core machine (4,256 / 8 = 532 s for c1) while
            # KWOK had every Ready condition True in under 3 minutes. Without the plugin a new
            # node has no such taint; the controller still taints any node whose Ready
            # condition turns False or Unknown (its NoSchedule tainting pass), as on a real
            # cluster, and the simulator's wait counts a node only once KWOK made it Ready.
            "--disable-admission-plugins=TaintNodesByCondition",
            f"--cert-dir={folder / 'pki'}",
        ],
    )
    server = f"https://127.0.0.1:{ports['kube-apiserver']}"
    admin_tls = procs.tls_context(keys.ca_crt, keys.crt("admin"), keys.key("admin"))
    procs.wait_ready(apiserver, lambda: procs.http_ok(f"{server}/readyz", admin_tls), APISERVER_TIMEOUT)
    progress(f"sim {stack}: kube-apiserver ready at {server} ({time.monotonic() - t0:.1f} s)")

    admin_kc = pki.write_kubeconfig(folder / KUBECONFIG, keys, server, "admin", pki.ADMIN.user)
    cm_kc = pki.write_kubeconfig(
        folder / "controller-manager.kubeconfig",
        keys,
        server,
        "controller-manager",
        pki.CONTROLLER_MANAGER.user,
    )
    sched_kc = pki.write_kubeconfig(
        folder / "scheduler.kubeconfig", keys, server, "scheduler", pki.SCHEDULER.user
    )
    serving = [f"--tls-cert-file={keys.crt('serving')}", f"--tls-private-key-file={keys.key('serving')}"]
    cm = launch(
        "kube-controller-manager",
        [
            binaries["kube-controller-manager"],
            f"--kubeconfig={cm_kc}",
            f"--authentication-kubeconfig={cm_kc}",
            f"--authorization-kubeconfig={cm_kc}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['kube-controller-manager']}",
            *serving,
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={keys.sa_key}",
            f"--root-ca-file={keys.ca_crt}",
            f"--cluster-signing-cert-file={keys.ca_crt}",
            f"--cluster-signing-key-file={keys.ca_key}",
            # No pod CIDRs to hand out: KWOK reports pod addresses itself.
            "--controllers=*,-node-ipam-controller",
            # The node lifecycle controller lifts the not-ready taint on its monitor period
            # (default 5 s): 1 s gets fresh nodes schedulable sooner.
            "--node-monitor-period=1s",
            f"--node-monitor-grace-period={NODE_MONITOR_GRACE}",
            f"--node-startup-grace-period={NODE_STARTUP_GRACE}",
            f"--kube-api-qps={CLIENT_QPS}",
            f"--kube-api-burst={CLIENT_BURST}",
            "--profiling=false",
        ],
    )
    sched = launch(
        "kube-scheduler",
        [
            binaries["kube-scheduler"],
            f"--kubeconfig={sched_kc}",
            f"--authentication-kubeconfig={sched_kc}",
            f"--authorization-kubeconfig={sched_kc}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['kube-scheduler']}",
            *serving,
            "--leader-elect=false",
            f"--kube-api-qps={CLIENT_QPS}",
            f"--kube-api-burst={CLIENT_BURST}",
            "--profiling=false",
        ],
    )
    (folder / "kwok").mkdir()
    stages = folder / "kwok" / "stages.yaml"
    stages.write_text(kwok.config_text(), encoding="utf-8")
    kw = launch(
        "kwok",
        [binaries["kwok"], *kwok.args(str(admin_kc), str(stages), ports["kwok"])],
        # KWOK also reads ~/.kwok/kwok.yaml: give it a home of its own.
        env={"HOME": str(folder / "kwok")},
    )

    # Nodes are created (a worker thread; minutes for a production cluster) while Kueue's
    # CRDs go in and Kueue starts: its CRDs (the API server compiles their schemas) and its own
    # start (certificates, caches) took as long again as c1's 4,256 nodes when they waited for
    # them.
    with ThreadPoolExecutor(max_workers=1) as background, kube.api_client(admin_kc) as node_api:
        creating = background.submit(nodes.create, node_api, nodes.manifests(cluster))
        kq = _start_kueue(folder, ports, keys, binaries["kueue"], manifests, admin_kc, launch)
        progress(
            f"sim {stack}: Kueue CRDs and webhook configurations in, Kueue started ({time.monotonic() - t0:.1f} s)"
        )
        created = creating.result()
    progress(f"sim {stack}: created {created} simulated nodes ({time.monotonic() - t0:.1f} s)")

    serving_tls = procs.tls_context(keys.ca_crt)
    for proc, url in (
        (kw, f"{loop}:{ports['kwok']}/healthz"),
        (sched, f"https://127.0.0.1:{ports['kube-scheduler']}/healthz"),
        (cm, f"https://127.0.0.1:{ports['kube-controller-manager']}/healthz"),
    ):
        procs.wait_ready(
            proc, functools.partial(procs.http_ok, url, serving_tls), COMPONENT_TIMEOUT, "healthy"
        )
        progress(f"sim {stack}: {proc.name} healthy ({time.monotonic() - t0:.1f} s)")

    with kube.api_client(admin_kc) as api:
        _wait_nodes(stack, api, cluster, [kw, sched, cm, apiserver, etcd], progress)
    procs.wait_ready(kq, lambda: procs.http_ok(f"{loop}:{ports['kueue-health']}/readyz"), KUEUE_TIMEOUT)
    progress(f"sim {stack}: Kueue ready ({time.monotonic() - t0:.1f} s)")
    state.phase = "up"
    state.owner = None
    state.save(folder)


def _start_kueue(
    folder: Path,
    ports: dict[str, int],
    keys: pki.Pki,
    binary: Path,
    manifests: Path,
    admin_kc: Path,
    launch: Callable[..., procs.Proc],
) -> procs.Proc:
    """Kueue's secret, CRDs and webhook configurations in the API server, its certificates and
    configuration on disk, then the process."""
    webhook_url = f"https://127.0.0.1:{ports['kueue-webhook']}"
    kueue_ca = keys.crt("kueue-ca").read_bytes()
    with kube.api_client(admin_kc) as api:
        kueue.install(
            api,
            kueue.crds(manifests, webhook_url, kueue_ca),
            kueue.webhook_configurations(manifests, webhook_url, kueue_ca),
            kueue.cert_secret(
                keys.crt("kueue-ca"),
                keys.key("kueue-ca"),
                keys.crt("kueue-webhook"),
                keys.key("kueue-webhook"),
            ),
        )
    cert_dir = folder / "kueue" / "certs"
    cert_dir.mkdir(parents=True)
    for src, dst in (
        ("kueue-webhook.crt", "tls.crt"),
        ("kueue-webhook.key", "tls.key"),
        ("kueue-ca.crt", "ca.crt"),
    ):
        shutil.copyfile(keys.path(src), cert_dir / dst)
    kueue_config = folder / "kueue" / "config.yaml"
    kueue_config.write_text(
        yaml.safe_dump(
            kueue.configuration(
                ports["kueue-webhook"], ports["kueue-health"], ports["kueue-metrics"], cert_dir
            ),
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    return launch(
        "kueue",
        [binary, f"--config={kueue_config}", *kueue_log_args()],
        env={"KUBECONFIG": str(admin_kc)},
    )


def _wait_nodes(
    stack: str,
    api: client.ApiClient,
    cluster: Cluster,
    watch: list[procs.Proc],
    progress: Progress,
    timeout: float | None = None,
) -> None:
    """Wait until every planned node is Ready, a progress line whenever the count changes.
    Default timeout: NODES_TIMEOUT plus NODES_PER_SECOND's worth for a large cluster."""
    planned = cluster.nodes
    timeout = timeout if timeout is not None else NODES_TIMEOUT + planned / NODES_PER_SECOND
    began, last = time.monotonic(), -1
    while True:
        ready = sum(p.ready for p in nodes.pool_status(cluster, nodes.list_nodes(api, cluster)))
        if ready != last:
            progress(f"sim {stack}: {ready}/{planned} nodes Ready")
            last = ready
        if ready >= planned:
            return
        dead = [p.name for p in watch if not procs.running(p)]
        if dead:
            raise procs.ProcessFailed(f"{', '.join(dead)} exited while nodes were coming up")
        if time.monotonic() - began > timeout:
            raise TimeoutError(f"{ready}/{planned} nodes Ready after {timeout:.0f} s")
        # Listing thousands of nodes is megabytes of JSON: poll a large cluster less often.
        time.sleep(0.2 if planned <= 200 else 2.0)


def _ensure_nodes(stack: str, cluster: Cluster, progress: Progress) -> SimStatus:
    """A running simulator: create any node missing and wait until all are Ready."""
    state = State.load(state_dir(stack))
    watch = state.processes if state else []
    try:
        with api_client(stack) as api:
            created = nodes.create(api, nodes.manifests(cluster))
            if created:
                progress(f"sim {stack}: created {created} missing nodes")
            _wait_nodes(stack, api, cluster, watch, progress)
    except (procs.ProcessFailed, nodes.NodeCreateError, kube.Unreachable, TimeoutError) as exc:
        raise SimUpFailed(
            f"sim {stack} is running but not ready: {exc}; `gigafactory sim down --stack {stack}` "
            "and `up` again start it fresh"
        ) from exc
    return status(stack)


__all__ = [
    "ENV_DIR",
    "SimError",
    "SimStatus",
    "SimUpFailed",
    "api_client",
    "down",
    "kubeconfig_path",
    "state_dir",
    "status",
    "target",
    "up",
]
