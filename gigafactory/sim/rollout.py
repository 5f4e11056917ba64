"""A rollout rehearsal on the simulator with the project's own playbook.

``rehearse(stack, batches)`` runs ``playbooks/project/rollout.yml`` itself (through
``gigafactory.baremetal.provision``, ansible-runner) against the simulated nodes of a stack's
cluster, one run per batch of the model's plan (``planning.rollout.plan_cluster``: whole racks,
canary rack first), and measures each batch's wall time from the runner's events.

What the playbook gets, and why:

- the site inventory of the stack's cluster (the project's inventory plugin), limited to the
  batch's rack groups; ``rollout_canary`` and ``rollout_batch`` set to the batch's node count, so
  the playbook's ``serial`` makes exactly the model's batch, and ``rollout_batch_by: su`` with
  ``rollout_units_per_batch`` the batch's SU count makes its own check that the batch lies in those
  scalable units (its NVLink check sees whole racks);
- ``ansible_connection: local``: the simulated nodes have no hosts to log in to. The
  node-preparation roles are skipped by tag (they would change this machine), so are the reboot
  (``rollout_hardware: false``), the CDI regeneration (``container_runtime_hardware: false``), the
  burn-in (``rollout_burnin_enabled: false``: its pods would wait for a GPU diagnostic no simulated
  node runs) and the hardware and file checks of the health role (its report is written under a
  temporary folder);
- ``rollout_kubectl``: the toolchain's kubectl with the simulator's kubeconfig, so cordon, drain,
  the Ready wait, uncordon and the failure annotation go through the real API server.

What a batch costs here is therefore the Ansible controller's own work (the playbook's tasks
per host, the kubectl round trips, the evictions): the model's ``batch_overhead`` and
``controller`` (per node of the batch; its default is this rehearsal's measured slope). The
per-node steps (install, reboot, health on hardware, burn-in) are the model's step costs, not
measured.
"""

from __future__ import annotations

import datetime as _dt
import shlex
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from gigafactory import toolchain
from gigafactory.baremetal import provision
from gigafactory.baremetal.inventory import group_name
from gigafactory.errors import GigafactoryError
from gigafactory.planning.rollout import Batch, StepCosts, plan_cluster
from gigafactory.project import project_dir
from gigafactory.sim import cluster as sim
from gigafactory.sim import kube
from gigafactory.site.model import Cluster
from gigafactory.stack.config import load_stack_config

PLAYBOOK = "rollout.yml"
NODES_PLAY = "Prepare nodes"
"""Name of the play of nodes.yml that rolls the batch (the validation play runs before it)."""
SKIPPED_ROLES = ("os_baseline", "nvidia_driver", "container_runtime", "infiniband", "nvme_cache", "kubelet")
"""Node-preparation roles of nodes.yml, left out by tag: they change the host they run on."""
FORKS = 50
"""Hosts the controller handles at once: ansible.cfg's forks (a fork per host costs memory here)."""
WORKLOAD_TIMEOUT = 300.0
# Tasks of the rollout role whose spans a BatchRun reports (task name -> step).
STEPS = {
    "Gathering Facts": "facts",
    "Cordon the node": "cordon",
    "Drain the node and wait for its pods to leave": "drain",
    "Wait until the node is Ready": "ready",
    "Uncordon the node": "uncordon",
    "Clear the reason of an earlier failure": "uncordon",
}
FAILURE_ANNOTATION = "gigafactory.io/rollout-failure"
"""Where the rollout role leaves a failed node's reason (its rollout_failure_annotation default)."""
_WORKLOAD = "rollout-rehearsal"
_LABEL = "app.kubernetes.io/name"


class RolloutError(GigafactoryError):
    """The rehearsal cannot start (simulator not up), or the playbook failed a batch."""


@dataclass(frozen=True)
class BatchRun:
    """One batch of the model rolled by the playbook on the simulator."""

    batch: Batch
    """The model's batch (racks, nodes)."""
    hosts: tuple[str, ...]
    """Hosts the playbook's batch held (from its events), in order."""
    seconds: float
    """Wall time of the batch: the node play's start to the end of the run (its events)."""
    run_seconds: float
    """The whole ansible-playbook run: start-up, inventory, validation play and the batch."""
    evicted: int
    """Pods ``kubectl drain`` reported evicted from the batch's nodes."""
    steps: dict[str, float] = field(default_factory=dict)
    """Seconds from the first host starting a step to the last host finishing it: facts (the
    play's fact gathering), cordon, drain, ready, uncordon (steps overlap nothing else: with the
    linear strategy every host ends a task before the next starts); the rest of ``seconds`` is the
    play's other tasks (batch checks, health without hardware, skipped steps)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.batch.index,
            "canary": self.batch.canary,
            "pool": self.batch.pool,
            "racks": list(self.batch.racks),
            "nodes": self.batch.nodes,
            "hosts": len(self.hosts),
            "evicted": self.evicted,
            "seconds": round(self.seconds, 2),
            "run_seconds": round(self.run_seconds, 2),
            "steps": {k: round(v, 2) for k, v in self.steps.items()},
        }


# --- the model's batches ------------------------------------------------------------------------


def model_batches(
    cluster: Cluster, su: str | None = None, costs: StepCosts | None = None, batch_racks: int | None = None
) -> list[Batch]:
    """The model's batches of ``cluster`` (canary rack, then ``batch_racks`` racks per batch,
    default one SU; ``plan_cluster``), or only those inside scalable unit ``su`` (the canary's
    SU: its first rack, then the other racks of the SU)."""
    gpu = cluster.gpu_pools
    racks = batch_racks or (gpu[0].spec.su_racks if gpu else 1)
    batches = list(plan_cluster(cluster, costs or StepCosts(), 1, racks, FORKS).batches)
    if su is None:
        return batches
    rack_su = {
        pool.rack_name(p): pool.su_name(p)
        for pool in cluster.pools
        for p in range(pool.first_rack_position, pool.last_rack_position + 1)
    }
    if su not in rack_su.values():
        raise RolloutError(
            f"scalable unit {su!r} is not in cluster {cluster.name}; e.g. {', '.join(sorted(set(rack_su.values()))[:3])}"
        )
    return [b for b in batches if all(rack_su[r] == su for r in b.racks)]


def batch_hosts(cluster: Cluster, batch: Batch) -> list[str]:
    """Node names of a batch's racks, in inventory order."""
    pool = cluster.pool(batch.pool)
    racks = set(batch.racks)
    return [pool.hostname(i) for i in range(pool.node_count) if pool.node_placement(i).rack in racks]


def _sus(cluster: Cluster, batch: Batch) -> int:
    """Scalable units a batch's racks lie in (one, or whole SUs for batches of two SUs and more)."""
    pool = cluster.pool(batch.pool)
    return len(
        {
            pool.su_name(p)
            for p in range(pool.first_rack_position, pool.last_rack_position + 1)
            if pool.rack_name(p) in set(batch.racks)
        }
    )


# --- running the playbook -----------------------------------------------------------------------


def _kubectl_wrapper(folder: Path, kubeconfig: Path) -> Path:
    """``rollout_kubectl`` is one command: the toolchain's kubectl bound to the simulator."""
    kubectl = toolchain.binary("kubectl")
    path = folder / "kubectl"
    path.write_text(
        f'#!/bin/sh\nexec {shlex.quote(str(kubectl))} --kubeconfig={shlex.quote(str(kubeconfig))} "$@"\n',
        encoding="utf-8",
    )
    path.chmod(0o755)
    return path


def playbook_vars(kubectl: Path, report_dir: Path, nodes: int, sus: int = 1) -> dict[str, Any]:
    """Extra variables of one batch's run of ``nodes`` nodes in ``sus`` scalable units (see the
    module's docstring)."""
    return {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "gigafactory_become": False,
        "rollout_kubectl": str(kubectl),
        "rollout_canary": nodes,
        "rollout_batch": nodes,
        "rollout_batch_by": "su",
        "rollout_units_per_batch": sus,
        "rollout_hardware": False,
        "rollout_burnin_enabled": False,
        "container_runtime_hardware": False,
        "health_hardware": False,
        "health_required_files": [],
        "health_required_commands": [],
        "health_report_path": f"{report_dir}/{{{{ inventory_hostname }}}}/health.json",
    }


class _Events:
    """What a run's events say: the node play's start, the end, per-task spans, hosts, evictions."""

    def __init__(self) -> None:
        self.play_start: float | None = None
        self.end: float | None = None
        self.hosts: list[str] = []
        self.evicted = 0
        self.failures: list[str] = []
        self._task: dict[str, str] = {}  # task uuid -> step
        self.spans: dict[str, list[float]] = {}

    @staticmethod
    def _when(event: dict[str, Any]) -> float:
        created = event.get("created")
        if isinstance(created, str):
            return _dt.datetime.fromisoformat(created).timestamp()
        return time.time()

    def __call__(self, _: provision.Progress, event: dict[str, Any]) -> None:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        when = self._when(event)
        if kind == "playbook_on_play_start" and data.get("play") == NODES_PLAY and self.play_start is None:
            self.play_start = when
        elif kind == "playbook_on_stats":
            self.end = when
        elif kind == "playbook_on_task_start":
            if self.play_start is None:
                return  # the validation play
            step = STEPS.get(str(data.get("task", "")).split(" : ")[-1])
            if step:
                self._task[str(data.get("task_uuid"))] = step
                span = self.spans.setdefault(step, [when, when])
                span[0] = min(span[0], when)
        elif kind.startswith("runner_on_"):
            step = self._task.get(str(data.get("task_uuid")))
            host = str(data.get("host", ""))
            if step:
                self.spans[step][1] = max(self.spans[step][1], when)
                if step == "cordon" and host not in self.hosts:
                    self.hosts.append(host)
                if step == "drain" and kind == "runner_on_ok":
                    out = str((data.get("res") or {}).get("stdout", ""))
                    self.evicted += sum(1 for line in out.splitlines() if line.rstrip().endswith(" evicted"))
            if kind in ("runner_on_failed", "runner_on_unreachable") and not data.get("ignore_errors"):
                res = data.get("res") or {}
                why = res.get("msg") or res.get("stderr") or "failed"
                self.failures.append(
                    f"{host}: {data.get('task', 'a task')}: {' '.join(str(why).split())[:300]}"
                )


def rehearse(
    stack: str,
    batches: Sequence[Batch],
    *,
    artifacts_root: Path | None = None,
    forks: int = FORKS,
    progress: Callable[[str], None] = lambda _: None,
) -> list[BatchRun]:
    """Roll ``batches`` (the model's, of the stack's cluster) on the stack's running simulator with
    playbooks/project/rollout.yml, one run per batch; stops at the first failed batch
    (RolloutError naming its hosts and tasks)."""
    root = project_dir()
    settings = load_stack_config(stack, root)
    _, cluster = sim.target(stack, root)
    kubeconfig = sim.kubeconfig_path(stack)
    if not kubeconfig.is_file():
        raise RolloutError(
            f"the simulator of stack {stack!r} is not up; run `gigafactory sim up --stack {stack}`"
        )
    site_file = Path(settings.site) if Path(settings.site).is_absolute() else root / settings.site
    out: list[BatchRun] = []
    with tempfile.TemporaryDirectory(prefix="gigafactory-rollout-") as tmp:
        folder = Path(tmp)
        kubectl = _kubectl_wrapper(folder, kubeconfig)
        for batch in batches:
            events = _Events()
            started = time.monotonic()
            result = provision.run(
                PLAYBOOK,
                site_file=site_file,
                cluster=cluster.name,
                limit=",".join(group_name("rack", r) for r in batch.racks),
                extra_vars=playbook_vars(kubectl, folder / "health", batch.nodes, _sus(cluster, batch)),
                skip_tags=SKIPPED_ROLES,
                forks=forks,
                artifacts_root=artifacts_root or folder / "artifacts",
                on_event=events,
            )
            run_seconds = time.monotonic() - started
            if result.failed or events.play_start is None or events.end is None:
                why = (
                    "; ".join(events.failures[:3]) or f"ansible-runner status {result.status}, rc {result.rc}"
                )
                raise RolloutError(f"batch {batch.index} ({', '.join(batch.racks)}) failed: {why}")
            run = BatchRun(
                batch=batch,
                hosts=tuple(events.hosts),
                seconds=events.end - events.play_start,
                run_seconds=run_seconds,
                evicted=events.evicted,
                steps={k: v[1] - v[0] for k, v in events.spans.items()},
            )
            progress(
                f"batch {batch.index}{' (canary)' if batch.canary else ''}: {len(batch.racks)} racks, "
                f"{len(run.hosts)} nodes, {run.evicted} pods evicted, {run.seconds:.1f} s "
                f"({', '.join(f'{k} {v:.1f}' for k, v in run.steps.items())}; run {run_seconds:.1f} s)"
            )
            out.append(run)
    return out


# --- a workload to drain ------------------------------------------------------------------------


def place_workload(api: client.ApiClient, namespace: str, nodes: Sequence[str]) -> list[str]:
    """A Deployment with one pod on each of ``nodes`` (node affinity to them, anti-affinity to
    each other, every taint tolerated), for the rollout's drain to evict; waits until every pod
    runs and returns their UIDs. Evicted pods come back once their node is uncordoned."""
    labels = {_LABEL: _WORKLOAD}
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": _WORKLOAD, "namespace": namespace},
        "spec": {
            "replicas": len(nodes),
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "tolerations": [{"operator": "Exists"}],
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [
                                    {
                                        "matchExpressions": [
                                            {
                                                "key": "kubernetes.io/hostname",
                                                "operator": "In",
                                                "values": list(nodes),
                                            }
                                        ]
                                    }
                                ]
                            }
                        },
                        "podAntiAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "labelSelector": {"matchLabels": labels},
                                    "topologyKey": "kubernetes.io/hostname",
                                }
                            ]
                        },
                    },
                    "containers": [{"name": "work", "image": "registry.invalid/sim/sleep:1"}],
                },
            },
        },
    }
    code, data = kube.request(api, "POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", body)
    if code >= 300:
        raise RolloutError(f"deployment {namespace}/{_WORKLOAD}: {code}: {kube.message(data)}")
    deadline = time.monotonic() + WORKLOAD_TIMEOUT
    wanted = set(nodes)
    while True:
        running = running_pods(api, namespace)
        if {p["spec"]["nodeName"] for p in running} >= wanted:
            return [p["metadata"]["uid"] for p in running if p["spec"]["nodeName"] in wanted]
        if time.monotonic() > deadline:
            raise RolloutError(
                f"{len(wanted) - len(running)} of {len(wanted)} pods in {namespace} not Running after "
                f"{WORKLOAD_TIMEOUT:.0f} s"
            )
        time.sleep(1.0)


def running_pods(api: client.ApiClient, namespace: str) -> list[dict[str, Any]]:
    """The workload's Running pods that are not being deleted."""
    selector = urllib.parse.quote(f"{_LABEL}={_WORKLOAD}")
    code, data = kube.request(api, "GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}")
    if code != 200 or not isinstance(data, dict):
        raise RolloutError(f"pods in {namespace}: {code}: {kube.message(data)}")
    return [
        p
        for p in data.get("items") or []
        if p.get("status", {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
    ]
