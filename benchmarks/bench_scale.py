"""Full-size rehearsal of Narvik cluster c1 on the simulator (4,256 nodes): one run, five figures.

1. ``sim up --stack narvik-c1`` (Python API) until every node is Ready and Kueue serves
   (target: at most 180 s), and the API server's and etcd's peak RSS (VmHWM) at the end.
2. 100 topology-constrained jobs (70 requiring one rack, 30 requiring one SU, mixed pod counts):
   wall time until every pod is bound, and the share whose pods all sit inside one rack / one
   SU (target 100 %).
3. 500 queued jobs of mixed sizes (1-4 GPUs, 1-4 pods, no topology request) once capacity
   exists: admission latency per job, from the client's create to the watch event showing the
   Workload Admitted (median target under 1 s), median and p99, split into Job created ->
   Workload seen (Kueue's Job reconciler) and Workload seen -> Admitted (Kueue's scheduler);
   with GIGAFACTORY_SIM_KUEUE_LOG_LEVEL=2 also Kueue's scheduling cycles and snapshots.
   ``--admission-rate R`` paces the creates at R jobs a second instead of all at once: the
   latency of a job that does not queue behind 499 others. Also Kueue's own histogram
   kueue_admission_wait_time_seconds over the step (Workload created -> admitted, read from its
   /metrics as a ServiceAccount; its start is the whole-second creationTimestamp).
   Step ``single`` (not in the default): 20 jobs, each created once the one before is admitted.
4. Rollout of one SU (hall-a-su001: canary rack, then the other 7 racks) with one pod per
   node to drain, by the project's playbook (gigafactory.sim.rollout): per-batch wall seconds
   and steps, against the model's batch_overhead.

Kueue's objects come from gigafactory.sim.placement (the specs of gigafactory.site.kueue, as the
stack's components make them). Uses the state folder of stack narvik-c1 ($GIGAFACTORY_SIM_DIR);
reuses a running simulator (then step 1 only checks it) and leaves it running with --keep. Run
it under `flock /tmp/gf-fullsize.lock` on a shared machine: two full-size simulators at once
measure each other.

Usage: .venv/bin/python benchmarks/bench_scale.py [--keep] [--json OUT] [--steps ...]
       [--admission-rate R] [--kueue-baseline]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from kubernetes import client, watch

from gigafactory.planning.rollout import StepCosts
from gigafactory.sim import cluster as sim
from gigafactory.sim import placement as pl
from gigafactory.sim import rollout
from gigafactory.site import kueue as kueue_objects
from gigafactory.site.model import GPU_RESOURCE, LABEL_RACK, LABEL_SU

STACK = "narvik-c1"
POOL = "train"
READY_TARGET_S = 180.0
ADMIT_MEDIAN_TARGET_S = 1.0


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _namespace(api: client.ApiClient, name: str, cq: str) -> list[dict[str, Any]]:
    objs = [
        # Opted in to Kueue (the label components/scheduling.py's Kueue selects namespaces by).
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": pl.KUEUE_NAMESPACE_LABELS},
        },
        {
            "apiVersion": pl.KUEUE_API,
            "kind": "LocalQueue",
            "metadata": {"name": "q", "namespace": name},
            "spec": {"clusterQueue": cq},
        },
    ]
    pl.apply(api, objs)
    return objs


def _delete_namespace(api: client.ApiClient, objs: list[dict[str, Any]], wait: bool = True) -> None:
    """Delete the namespace and its queue; with ``wait``, until it is gone (hundreds of jobs
    and their pods take minutes on the loaded machine)."""
    pl.delete(api, objs)
    if not wait:
        return
    name = objs[0]["metadata"]["name"]
    from gigafactory.sim import kube

    def gone() -> bool:
        code, _ = kube.request(api, "GET", f"/api/v1/namespaces/{name}")
        return code == 404

    pl.wait(gone, 900, f"namespace {name} deleted", interval=1.0)


def step_topology(api: client.ApiClient, cq: str, labels: dict[str, dict[str, str]]) -> dict[str, Any]:
    objs = _namespace(api, "bench-tas", cq)
    jobs = []
    for i in range(70):
        jobs.append(pl.job(f"rack-{i:03d}", "bench-tas", "q", (2, 4, 9, 18)[i % 4], 4, LABEL_RACK))
    for i in range(30):
        jobs.append(pl.job(f"su-{i:03d}", "bench-tas", "q", (18, 36)[i % 2], 4, LABEL_SU))
    want = {j["metadata"]["name"]: int(j["spec"]["parallelism"]) for j in jobs}
    began = time.monotonic()
    pl.submit(api, jobs)

    def all_bound() -> list[dict[str, Any]] | None:
        pods = pl.pods(api, "bench-tas")
        bound = [p for p in pods if p["spec"].get("nodeName")]
        return pods if len(bound) == sum(want.values()) else None

    pods = pl.wait(all_bound, 600, "100 topology jobs bound", interval=1.0)
    elapsed = time.monotonic() - began
    by_job: dict[str, set[str]] = {}
    for p in pods:
        by_job.setdefault(p["metadata"]["labels"][pl.JOB_LABEL], set()).add(p["spec"]["nodeName"])
    correct = 0
    for name, nodes in by_job.items():
        level = LABEL_RACK if name.startswith("rack") else LABEL_SU
        domains = {labels[n][level] for n in nodes}
        correct += len(domains) == 1
    result = {
        "jobs": len(jobs),
        "pods": sum(want.values()),
        "seconds": round(elapsed, 1),
        "inside_domain": correct,
        "correct_pct": round(100 * correct / len(jobs), 1),
    }
    _delete_namespace(api, objs)
    return result


def _go_seconds(value: Any) -> float | None:
    """A duration as Kueue logs it: seconds as a number, or Go's text ("1.5ms", "2m3.1s")."""
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    units = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, number = 0.0, ""
    i = 0
    while i < len(value):
        ch = value[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = next((u for u in sorted(units, key=len, reverse=True) if value.startswith(u, i)), None)
        if unit is None or not number:
            return None
        total += float(number) * units[unit]
        number, i = "", i + len(unit)
    return total if not number else None


def kueue_cycles(log: Path, offset: int) -> dict[str, Any]:
    """Kueue's scheduling cycles logged after byte ``offset`` of its log (needs log level 2:
    GIGAFACTORY_SIM_KUEUE_LOG_LEVEL=2): how many, and the median and p99 of the whole cycle and
    of its snapshot, in milliseconds."""
    cycles: list[float] = []
    snapshots: list[float] = []
    with log.open("rb") as f:
        f.seek(offset)
        for raw in f:
            if b"Scheduling cycle complete" not in raw and b"Snapshot taken" not in raw:
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            seconds = _go_seconds(entry.get("duration"))
            if seconds is None:
                continue
            (cycles if entry.get("msg") == "Scheduling cycle complete" else snapshots).append(seconds * 1000)

    def summary(values: list[float]) -> dict[str, float]:
        if not values:
            return {}
        values = sorted(values)
        return {
            "median_ms": round(statistics.median(values), 2),
            "p99_ms": round(values[int(0.99 * (len(values) - 1))], 2),
        }

    return {"cycles": len(cycles), "cycle": summary(cycles), "snapshot": summary(snapshots)}


METRICS_READER = "gigafactory-bench-metrics"
"""ServiceAccount (and ClusterRole) the benchmark reads Kueue's metrics as: Kueue serves them over
HTTPS behind a TokenReview and a SubjectAccessReview (nonResourceURL /metrics), as in a cluster."""


def _metrics_token(api: client.ApiClient) -> str:
    """A short-lived token of a ServiceAccount allowed to GET Kueue's /metrics."""
    from gigafactory.sim import kube

    ns = "kueue-system"
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    for path, body in (
        (f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": METRICS_READER}}),
        (
            f"{rbac}/clusterroles",
            {
                "metadata": {"name": METRICS_READER},
                "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}],
            },
        ),
        (
            f"{rbac}/clusterrolebindings",
            {
                "metadata": {"name": METRICS_READER},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": METRICS_READER,
                },
                "subjects": [{"kind": "ServiceAccount", "name": METRICS_READER, "namespace": ns}],
            },
        ),
    ):
        code, data = kube.request(api, "POST", path, body)
        if code not in (201, 409):  # 409: made by an earlier run
            raise SystemExit(f"POST {path}: HTTP {code}: {kube.message(data)}")
    code, body = kube.request(
        api,
        "POST",
        f"/api/v1/namespaces/{ns}/serviceaccounts/{METRICS_READER}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        },
    )
    if code != 201:
        raise SystemExit(f"TokenRequest for {METRICS_READER}: HTTP {code}: {body}")
    return str(body["status"]["token"])


def kueue_wait_buckets(port: int, token: str) -> dict[float, float]:
    """Kueue's own admission latency: the cumulative buckets of its histogram
    kueue_admission_wait_time_seconds (time from a Workload's creation, or requeue, to its
    admission; buckets 1, 2.5, 5, 10 s, ...) summed over ClusterQueues, as {upper bound: count}."""
    import re
    import ssl
    import urllib.request

    # Kueue's metrics certificate is one it made for itself; loopback only, nothing to verify.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    req = urllib.request.Request(
        f"https://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    with opener.open(req, timeout=30) as response:
        text = response.read().decode()
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("kueue_admission_wait_time_seconds_bucket{"):
            le = re.search(r'[{,]le="([^"]+)"', line)
            if le:
                bound = float(le.group(1))  # "+Inf" parses as inf
                buckets[bound] = buckets.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


def kueue_wait_summary(before: dict[float, float], after: dict[float, float]) -> dict[str, Any]:
    """Admissions between two readings of the histogram, and how many waited at most each bound."""
    diff = {b: after.get(b, 0.0) - before.get(b, 0.0) for b in sorted(after)}
    total = diff.get(float("inf"), 0.0)
    out: dict[str, Any] = {"admissions": int(total)}
    for bound in (1.0, 2.5, 5.0, 10.0):
        if bound in diff:
            out[f"within_{bound:g}s"] = int(diff[bound])
    # The smallest bucket bound the median falls under (a histogram gives no finer answer).
    out["median_at_most_s"] = next((b for b in sorted(diff) if total and diff[b] >= total / 2), None)
    return out


def step_admission(
    api: client.ApiClient,
    cq: str,
    kueue_log: Path,
    rate: float = 0.0,
    metrics_port: int | None = None,
    count: int = 500,
    one_at_a_time: bool = False,
) -> dict[str, Any]:
    """500 jobs, all at once (``rate`` 0: as fast as 8 client threads create them) or paced at
    ``rate`` jobs a second; latency per job from its create to its Workload Admitted."""
    ns = f"bench-admit-{int(time.time()) % 100000}"  # a fresh one: an old may be terminating
    objs = _namespace(api, ns, cq)
    shapes = [(1, 1), (1, 2), (1, 4), (2, 4), (4, 4)]  # (pods, GPUs per pod)
    jobs = [pl.job(f"j-{i:03d}", ns, "q", *shapes[i % len(shapes)], None) for i in range(count)]
    submitted: dict[str, float] = {}
    queued: dict[str, float] = {}
    admitted: dict[str, float] = {}
    stop = threading.Event()
    custom = client.CustomObjectsApi(api)

    def seen(obj: dict[str, Any]) -> None:
        job = pl.job_of(obj)
        if not job:
            return
        now = time.monotonic()
        queued.setdefault(job, now)
        if job not in admitted and pl.admitted(obj):
            admitted[job] = now

    def watcher() -> None:
        # A watch of the namespace's Workloads; when the stream ends or fails (it did once
        # under load), a list catches up and the watch starts again.
        while not stop.is_set() and len(admitted) < len(jobs):
            try:
                for wl in pl.workloads(api, ns):
                    seen(wl)
                w = watch.Watch()  # type: ignore[no-untyped-call]  # untyped in the client
                for event in w.stream(  # type: ignore[no-untyped-call]
                    custom.list_namespaced_custom_object,
                    "kueue.x-k8s.io",
                    "v1beta2",
                    ns,
                    "workloads",
                    timeout_seconds=30,
                ):
                    if isinstance(event.get("object"), dict):
                        seen(event["object"])
                    if stop.is_set() or len(admitted) == len(jobs):
                        w.stop()  # type: ignore[no-untyped-call]
                        return
            except Exception as exc:  # any failure of the stream: list again
                print(f"admission watch restarted: {exc}", flush=True)
                time.sleep(0.2)

    thread = threading.Thread(target=watcher, daemon=True)
    thread.start()
    time.sleep(1.0)
    log_offset = kueue_log.stat().st_size if kueue_log.exists() else 0
    token = _metrics_token(api) if metrics_port else ""
    wait_before = kueue_wait_buckets(metrics_port, token) if metrics_port else {}
    began = time.monotonic()

    def create(body: dict[str, Any]) -> None:
        pl.submit(api, [body], workers=1)
        submitted[body["metadata"]["name"]] = time.monotonic()

    # Stamp the submit time after the create returns: the latency is Kueue's, not the client's.
    from concurrent.futures import ThreadPoolExecutor

    if one_at_a_time:
        # Each job created once the one before is admitted: the latency of a job that queues
        # behind nothing, on the otherwise idle cluster.
        for body in jobs:
            create(body)
            name = body["metadata"]["name"]
            pl.wait(lambda n=name: n in admitted, 60, f"job {name} admitted", interval=0.005)
    elif rate > 0:
        for i, body in enumerate(jobs):
            time.sleep(max(0.0, began + i / rate - time.monotonic()))
            create(body)
    else:
        with ThreadPoolExecutor(max_workers=8) as ex:
            list(ex.map(create, jobs))
    created_s = time.monotonic() - began
    pl.wait(lambda: len(admitted) == len(jobs), 600, f"{len(jobs)} jobs admitted", interval=0.5)
    stop.set()
    total = time.monotonic() - began

    def stats(values: list[float]) -> dict[str, float]:
        values = sorted(values)
        return {
            "median_s": round(statistics.median(values), 3),
            "p99_s": round(values[int(0.99 * (len(values) - 1))], 3),
            "max_s": round(values[-1], 3),
        }

    lat = [max(0.0, admitted[j] - submitted[j]) for j in submitted]
    gpus = sum(
        int(j["spec"]["parallelism"])
        * int(j["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"][GPU_RESOURCE])
        for j in jobs
    )
    result = {
        "jobs": len(jobs),
        "rate_per_s": "one at a time" if one_at_a_time else rate or "burst",
        "gpus": gpus,
        "created_s": round(created_s, 1),
        "all_admitted_s": round(total, 1),
        **stats(lat),
        # Where the time goes: Job created -> its Workload seen (Kueue's Job reconciler), then
        # Workload seen -> Admitted (Kueue's scheduler).
        "to_workload": stats([max(0.0, queued[j] - submitted[j]) for j in submitted if j in queued]),
        "to_admitted": stats([max(0.0, admitted[j] - queued[j]) for j in submitted if j in queued]),
    }
    if metrics_port:
        # Kueue's own measurement of the same thing as to_admitted (Workload created -> admitted),
        # from its histogram: a source independent of this client's watch.
        result["kueue_admission_wait"] = kueue_wait_summary(
            wait_before, kueue_wait_buckets(metrics_port, token)
        )
    if kueue_log.exists():
        result["kueue"] = kueue_cycles(kueue_log, log_offset)
    print("admission:", result, flush=True)
    # Not waited for: a fresh namespace each run, and the GPUs are not needed after this step.
    _delete_namespace(api, objs, wait=False)
    return result


def step_rollout(api: client.ApiClient) -> dict[str, Any]:
    """One SU rolled by the project's playbook in the model's batches (gigafactory.sim.rollout),
    one pod per node to drain."""
    _, cluster = sim.target(STACK)
    pool = cluster.pool(POOL)
    su = pool.su_name(pool.first_rack_position)
    batches = rollout.model_batches(cluster, su)
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench-rollout"}}
    pl.apply(api, [ns])
    try:
        names = [n for b in batches for n in rollout.batch_hosts(cluster, b)]
        rollout.place_workload(api, "bench-rollout", names)
        runs = rollout.rehearse(STACK, batches, progress=print)
    finally:
        pl.delete(api, [ns])
    return {
        "su": su,
        "batches": [r.to_json() for r in runs],
        "model_batch_overhead_min": StepCosts().batch_overhead,
        "measured_max_s": round(max(r.seconds for r in runs), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", action="store_true", help="leave the simulator running")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--steps",
        default="topology,admission,rollout",
        help="comma-separated: topology, admission, single (20 jobs, each after the one before is "
        "admitted), rollout",
    )
    parser.add_argument(
        "--admission-rate",
        type=float,
        default=0.0,
        help="submit the 500 jobs at this many a second (default: all at once, 8 client threads)",
    )
    parser.add_argument(
        "--kueue-baseline",
        action="store_true",
        help="start Kueue as the platform ran it before issue 13 (one reconcile worker per "
        "controller, TASCacheTopologyTree off), to measure what the settings change",
    )
    opts = parser.parse_args()
    if opts.kueue_baseline:
        # In this process only, before the simulator (and so Kueue's configuration) is made; a
        # simulator already running keeps the settings it was started with.
        kueue_objects.CONTROLLER_CONCURRENCY.clear()
        kueue_objects.FEATURE_GATES.clear()
    out: dict[str, Any] = {}
    began = time.monotonic()
    status = sim.up(STACK, progress=print)
    out["up_s"] = round(time.monotonic() - began, 1)
    out["nodes_ready"] = sum(p.ready for p in status.pools)
    state = sim.State.load(sim.state_dir(STACK))
    assert state is not None
    pids = {p.name: p.pid for p in state.processes}
    _, cluster = sim.target(STACK)
    labels = pl.node_labels(cluster)
    cq = cluster.pool(POOL).kueue_name
    try:
        with sim.api_client(STACK) as api:
            # c1 before its tenant is onboarded: the pool's queue owns all 16,704 GPUs (specs
            # from gigafactory.site.kueue, as the stack's components make them).
            pl.apply(api, pl.cluster_objects(cluster, []), update=True)
            steps = set(opts.steps.split(","))
            if "topology" in steps:
                out["topology"] = step_topology(api, cq, labels)
                print("topology:", out["topology"], flush=True)
            if "admission" in steps:
                out["admission"] = step_admission(
                    api,
                    cq,
                    sim.state_dir(STACK) / "logs" / "kueue.log",
                    opts.admission_rate,
                    state.ports.get("kueue-metrics"),
                )
            if "single" in steps:
                out["single"] = step_admission(
                    api,
                    cq,
                    sim.state_dir(STACK) / "logs" / "kueue.log",
                    metrics_port=state.ports.get("kueue-metrics"),
                    count=20,
                    one_at_a_time=True,
                )
            if "rollout" in steps:
                out["rollout"] = step_rollout(api)
                print("rollout:", out["rollout"], flush=True)
        out["peak_rss_mib"] = {
            n: round(_peak_rss_mib(pids[n]), 0) for n in ("kube-apiserver", "etcd", "kwok", "kueue")
        }
    finally:
        if not opts.keep:
            sim.down(STACK, progress=print)
    out["kueue_settings"] = "baseline (before issue 13)" if opts.kueue_baseline else "platform"
    print(json.dumps(out, indent=2))
    if opts.json:
        opts.json.write_text(json.dumps(out, indent=2) + "\n")
    ok = out["up_s"] <= READY_TARGET_S
    ok = ok and out.get("admission", {}).get("median_s", 0.0) < ADMIT_MEDIAN_TARGET_S
    ok = ok and out.get("topology", {}).get("correct_pct", 100.0) == 100.0
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
