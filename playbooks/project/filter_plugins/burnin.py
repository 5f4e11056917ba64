"""Filters of the rollout's burn-in (roles/rollout/tasks/burnin.yml): which chart runs a batch
needs, and what each node's run said.

A batch's GPU nodes are burnt in one release of charts/gpu-burnin per rack (an NVL72 rack is one
NVLink domain); the per-node Job runs one index per node. A node passed only when a pod of that
Job ran on it and succeeded; everything else (its index failed, no pod ever ran on it, the Job
hit its deadline) is a failure with the reason the rollout writes on the node.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
"""Label the Job controller puts on each pod of an Indexed Job."""
REPORT_CONTAINER = "report"
"""The chart's step whose termination message is the node's JSON verdict line."""
_RELEASE = re.compile(r"[^a-z0-9-]+")
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def burnin_runs(
    hosts: Iterable[str], hostvars: Mapping[str, Any], prefix: str = "burnin"
) -> list[dict[str, Any]]:
    """One run per rack of ``hosts``, in host order: release name, pool, rack, SKU and nodes.
    Every variable comes from the site inventory (gigafactory_pool, _rack, _sku); a host without
    them is not from the site inventory, an error."""
    runs: dict[str, dict[str, Any]] = {}
    for host in hosts:
        hv = hostvars[host]
        try:
            rack, pool, sku = hv["gigafactory_rack"], hv["gigafactory_pool"], hv["gigafactory_sku"]
        except KeyError as exc:
            raise AnsibleFilterError(
                f"burnin_runs: host {host} lacks {exc.args[0]} (site inventory)"
            ) from None
        run = runs.get(rack)
        if run is None:
            release = _RELEASE.sub("-", f"{prefix}-{rack}".lower()).strip("-")[:40].rstrip("-")
            run = runs[rack] = {"release": release, "rack": rack, "pool": pool, "sku": sku, "nodes": []}
        elif run["pool"] != pool:
            raise AnsibleFilterError(f"burnin_runs: rack {rack} holds pools {run['pool']} and {pool}")
        run["nodes"].append(host)
    return list(runs.values())


def _condition(job: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in job.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            return dict(cond)
    return None


def burnin_finished(job: Mapping[str, Any]) -> bool:
    """The Job reached a terminal condition (Complete or Failed)."""
    return bool(_condition(job, "Complete") or _condition(job, "Failed"))


def _indexes(text: str | None) -> set[int]:
    """Indexes of a Job's ``failedIndexes``/``completedIndexes`` ("1,3-5")."""
    out: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        first, _, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


def _terminated(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    status = pod.get("status", {})
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        if cs.get("name") == REPORT_CONTAINER:
            return dict(cs.get("state", {}).get("terminated") or {})
    return {}


def burnin_verdicts(job: Mapping[str, Any], pods: Mapping[str, Any], nodes: Iterable[str]) -> dict[str, str]:
    """Node -> "" when it passed, else why it failed. ``job`` is the per-node Job, ``pods`` the
    PodList of its pods (pods of another Job of the same name are ignored, by owner UID)."""
    uid = job.get("metadata", {}).get("uid")
    name = job.get("metadata", {}).get("name", "the burn-in Job")
    failed = _indexes(job.get("status", {}).get("failedIndexes"))
    finished = _condition(job, "Complete") or _condition(job, "Failed")
    by_node: dict[str, list[Mapping[str, Any]]] = {}
    for pod in pods.get("items") or []:
        owners = pod.get("metadata", {}).get("ownerReferences") or []
        if uid and not any(o.get("uid") == uid for o in owners):
            continue
        node = pod.get("spec", {}).get("nodeName")
        if node:
            by_node.setdefault(node, []).append(pod)
    verdicts: dict[str, str] = {}
    for node in nodes:
        mine = by_node.get(node, [])
        passed = [
            p
            for p in mine
            if p.get("status", {}).get("phase") == "Succeeded"
            and int(p["metadata"].get("labels", {}).get(INDEX_LABEL, -1)) not in failed
        ]
        if passed:
            verdicts[node] = ""
            continue
        bad = [p for p in mine if p.get("status", {}).get("phase") == "Failed"]
        if bad:
            pod = bad[0]
            index = pod["metadata"].get("labels", {}).get(INDEX_LABEL, "?")
            term = _terminated(pod)
            said = (term.get("message") or "").strip() or (
                f"exit code {term['exitCode']}"
                if "exitCode" in term
                else pod.get("status", {}).get("reason", "failed")
            )
            verdicts[node] = f"burn-in {name} index {index} failed: {said}"
        elif mine:
            phase = mine[0].get("status", {}).get("phase", "unknown")
            verdicts[node] = f"burn-in {name} ended with the node's pod {phase}"
        else:
            why = (finished.get("reason") or finished.get("type")) if finished else "not finished"
            verdicts[node] = f"burn-in {name} ran no pod on the node ({why})"
    return verdicts


def burnin_batch_verdicts(
    jobs: Iterable[Mapping[str, Any]], pods: Iterable[Mapping[str, Any]]
) -> dict[str, str]:
    """Node -> verdict over a batch's runs: ``jobs`` and ``pods`` are the results of the looped
    ``kubectl get ... -o json`` tasks (one per run, each with its ``item``: the run)."""
    verdicts: dict[str, str] = {}
    for job, pod_list in zip(jobs, pods, strict=True):
        run = job["item"]
        verdicts.update(
            burnin_verdicts(json.loads(job["stdout"]), json.loads(pod_list["stdout"]), run["nodes"])
        )
    return verdicts


def helm_set_json(values: Mapping[str, Any], path: str = "") -> list[str]:
    """``--set-json=<path>=<json>`` arguments that set each leaf of ``values`` and nothing else
    (a whole map given to --set-json replaces the map the values files built). A map whose keys
    are not plain names (label keys such as ``gigafactory.io/x``) is set whole."""
    args: list[str] = []
    for key, value in values.items():
        where = f"{path}.{key}" if path else str(key)
        if isinstance(value, Mapping) and value and all(_PLAIN_KEY.match(str(k)) for k in value):
            args.extend(helm_set_json(value, where))
        else:
            args.append(f"--set-json={where}={json.dumps(value, separators=(',', ':'))}")
    return args


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "burnin_runs": burnin_runs,
            "burnin_finished": burnin_finished,
            "burnin_verdicts": burnin_verdicts,
            "burnin_batch_verdicts": burnin_batch_verdicts,
            "helm_set_json": helm_set_json,
        }
