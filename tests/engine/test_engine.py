"""`gigafactory up|preview|destroy --stack sim` by the real Pulumi engine against the simulator.

In file order (they share one simulator and one `up`): every object the stack declares is in
the API server; a second `up` changes nothing; Kueue admits a tenant's Job onto the GPU pool and
holds one above the tenant's quota; the policy pack runs inside the engine; `destroy` leaves no
object behind and `sim down` no process or file.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import dynamic
from kubernetes.client.exceptions import ApiException

from components.tenants import GPU_ADMISSION_MESSAGE, GPU_ADMISSION_POLICY
from gigafactory.sim import cluster as sim
from gigafactory.sim import kube, rollout
from gigafactory.site.model import GPU_RESOURCE, LABEL_POOL
from gigafactory.stack.render import RELEASE_TYPE
from tests.conftest import REPO
from tests.engine.conftest import STACK, Engine
from tests.pulumi.conftest import rendered

TENANT = "demo"
TENANT_NAMESPACE = "tenant-demo"
RELEASE_NAMESPACE = "gigafactory-tenants"
LOCAL_QUEUE = "default"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
KUEUE_VERSION = "kueue.x-k8s.io/v1beta2"
WAIT_S = 90.0


def _until(what: str, check: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def dyn(engine: Engine) -> dynamic.DynamicClient:
    return dynamic.DynamicClient(sim.api_client(STACK))  # type: ignore[no-untyped-call]  # untyped in the client


def declared_objects() -> list[dict[str, Any]]:
    """apiVersion, kind, name and namespace of every Kubernetes object the stack declares
    itself (its Helm releases' objects are checked by kind below)."""
    out = []
    for r in rendered(STACK).resources:
        if not r["type"].startswith("kubernetes:") or r["type"] == RELEASE_TYPE:
            continue
        inputs = r["inputs"]
        meta = inputs["metadata"]
        out.append(
            {
                "apiVersion": inputs["apiVersion"],
                "kind": inputs["kind"],
                "name": meta["name"],
                "namespace": meta.get("namespace"),
            }
        )
    return out


def _get(dyn: dynamic.DynamicClient, obj: dict[str, Any]) -> dict[str, Any] | None:
    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    try:
        found = resource.get(name=obj["name"], namespace=obj["namespace"])
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return dict(found.to_dict())


def _list(
    dyn: dynamic.DynamicClient, api_version: str, kind: str, namespace: str | None = None, **kw: str
) -> list[dict[str, Any]]:
    """Objects of one kind as plain dicts (``label_selector=...`` and the like in ``kw``)."""
    found = dyn.resources.get(api_version=api_version, kind=kind).get(namespace=namespace, **kw)
    return [dict(item) for item in found.to_dict()["items"]]


def _read(
    dyn: dynamic.DynamicClient, api_version: str, kind: str, name: str, namespace: str | None = None
) -> dict[str, Any]:
    return dict(
        dyn.resources.get(api_version=api_version, kind=kind).get(name=name, namespace=namespace).to_dict()
    )


# --- up ----------------------------------------------------------------------------------------


def test_up_from_empty_succeeds_and_says_what_the_environment_provides(engine: Engine) -> None:
    assert engine.up.rc == 0, engine.up.text
    assert "left to the environment: cni, observability, kueue, gpu" in engine.up.out
    assert re.search(r"^sim: updated in [\d.]+ s \(\d+ create\)$", engine.up.out, re.M), engine.up.out


def test_every_declared_object_exists_in_the_api_server(engine: Engine, dyn: dynamic.DynamicClient) -> None:
    declared = declared_objects()
    kinds = {o["kind"] for o in declared}
    assert {
        "ResourceFlavor",
        "ClusterQueue",
        "Topology",
        "PriorityClass",
        "StorageClass",
        "Namespace",
    } <= kinds
    missing = [f"{o['kind']} {o['name']}" for o in declared if _get(dyn, o) is None]
    assert missing == [], f"declared by the stack but not in the API server: {missing}"


def test_tenant_release_made_namespace_quota_queue_policies_and_binding(
    engine: Engine, dyn: dynamic.DynamicClient
) -> None:
    namespace = _read(dyn, "v1", "Namespace", TENANT_NAMESPACE)
    assert namespace["metadata"]["labels"]["gigafactory.io/tenant"] == TENANT
    quotas = _list(dyn, "v1", "ResourceQuota", TENANT_NAMESPACE)
    assert any(q["spec"]["hard"].get(f"requests.{GPU_RESOURCE}") == "8" for q in quotas), quotas
    assert _list(dyn, "v1", "LimitRange", TENANT_NAMESPACE), "no LimitRange"
    queue = _read(dyn, KUEUE_VERSION, "LocalQueue", LOCAL_QUEUE, TENANT_NAMESPACE)
    assert queue["spec"]["clusterQueue"] == f"tenant-{TENANT}"
    policies = _list(dyn, "networking.k8s.io/v1", "NetworkPolicy", TENANT_NAMESPACE)
    deny_all = [
        p["metadata"]["name"]
        for p in policies
        if not p["spec"]["podSelector"] and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    ]
    assert deny_all, f"no default-deny policy among {[p['metadata']['name'] for p in policies]}"
    bindings = _list(dyn, "rbac.authorization.k8s.io/v1", "RoleBinding", TENANT_NAMESPACE)
    groups = {s["name"] for b in bindings for s in b.get("subjects") or [] if s["kind"] == "Group"}
    assert f"tenant-{TENANT}" in groups, groups


def test_kueue_accepts_the_stack_queues_as_active(engine: Engine, dyn: dynamic.DynamicClient) -> None:
    for name in ("dev-gpu", f"tenant-{TENANT}"):

        def active(queue: str = name) -> bool:
            obj = _read(dyn, KUEUE_VERSION, "ClusterQueue", queue)
            conditions = obj.get("status", {}).get("conditions", [])
            return any(c["type"] == "Active" and c["status"] == "True" for c in conditions)

        _until(f"ClusterQueue {name} Active", active)


def test_second_up_changes_nothing(engine: Engine) -> None:
    again = engine.gigafactory("up", "--stack", STACK, "--yes")
    assert again.rc == 0, again.text
    summary = re.search(r"^sim: updated in [\d.]+ s \((.*)\)$", again.out, re.M)
    assert summary, again.out
    assert re.fullmatch(r"\d+ same", summary.group(1)), f"second up changed something: {summary.group(1)}"


# --- Kueue admits tenant work --------------------------------------------------------------------


def _job(name: str, pods: int, gpus_per_pod: int) -> dict[str, Any]:
    """A Job for the tenant's LocalQueue; Kueue adds the GPU pool's selector and tolerations."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": TENANT_NAMESPACE, "labels": {QUEUE_LABEL: LOCAL_QUEUE}},
        "spec": {
            "suspend": True,
            "parallelism": pods,
            "completions": pods,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "train",
                            "image": "registry.invalid/train:1.0",
                            "resources": {
                                "requests": {GPU_RESOURCE: str(gpus_per_pod)},
                                "limits": {GPU_RESOURCE: str(gpus_per_pod)},
                            },
                        }
                    ],
                }
            },
        },
    }


@pytest.fixture
def submit(engine: Engine, dyn: dynamic.DynamicClient) -> Iterator[Callable[[int, int], str]]:
    jobs = dyn.resources.get(api_version="batch/v1", kind="Job")
    made: list[str] = []

    def make(pods: int, gpus_per_pod: int) -> str:
        name = f"train-{uuid.uuid4().hex[:6]}"
        jobs.create(body=_job(name, pods, gpus_per_pod), namespace=TENANT_NAMESPACE)
        made.append(name)
        return name

    yield make
    for name in made:
        jobs.delete(name=name, namespace=TENANT_NAMESPACE, body={"propagationPolicy": "Foreground"})
    _until(
        "the test jobs and their pods to be gone",
        lambda: (
            not [
                o
                for kind in ("Job", "Pod")
                for o in _list(dyn, "batch/v1" if kind == "Job" else "v1", kind, TENANT_NAMESPACE)
                if (
                    o["metadata"]["name"]
                    if kind == "Job"
                    else o["metadata"].get("labels", {}).get("job-name")
                )
                in made
            ]
        ),
    )


def _workload(dyn: dynamic.DynamicClient, job: str) -> dict[str, Any] | None:
    for w in _list(dyn, KUEUE_VERSION, "Workload", TENANT_NAMESPACE):
        if any(o["name"] == job for o in w["metadata"].get("ownerReferences", [])):
            return w
    return None


def _condition(workload: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for c in (workload or {}).get("status", {}).get("conditions", []):
        if c["type"] == kind:
            return dict(c)
    return None


def test_job_in_the_tenant_queue_is_admitted_and_runs_on_the_gpu_pool(
    dyn: dynamic.DynamicClient, submit: Callable[[int, int], str]
) -> None:
    job = submit(2, 4)  # the tenant's whole share: 8 GPUs on the two GPU nodes

    _until(
        f"Kueue to admit {job}",
        lambda: (c := _condition(_workload(dyn, job), "Admitted")) is not None and c["status"] == "True",
    )

    def running() -> list[dict[str, Any]]:
        pods = _list(dyn, "v1", "Pod", TENANT_NAMESPACE, label_selector=f"job-name={job}")
        up = [p for p in pods if p.get("status", {}).get("phase") == "Running"]
        return up if len(up) == 2 else []

    for pod in _until(f"two pods of {job} Running", running):
        node = _read(dyn, "v1", "Node", pod["spec"]["nodeName"])
        pool = node["metadata"]["labels"].get(LABEL_POOL)
        assert pool == "gpu", f"{pod['metadata']['name']} ran on {node['metadata']['name']} of pool {pool}"


def test_job_above_the_tenant_quota_stays_pending_with_kueues_reason(
    dyn: dynamic.DynamicClient, submit: Callable[[int, int], str]
) -> None:
    job = submit(3, 4)  # 12 GPUs: more than the tenant's 8

    def waiting() -> dict[str, Any] | None:
        c = _condition(_workload(dyn, job), "QuotaReserved")
        return c if c is not None and c["status"] == "False" else None

    reserved = _until(f"Kueue to report why {job} waits", waiting)
    assert "insufficient quota" in reserved["message"] and GPU_RESOURCE in reserved["message"], reserved
    time.sleep(2)
    assert _read(dyn, "batch/v1", "Job", job, TENANT_NAMESPACE)["spec"]["suspend"] is True, (
        "over quota, yet started"
    )


# --- tenancy: the contract comes back, no GPU pod outside Kueue (docs/tenancy.md) ---------------

PLATFORM_NAMESPACE = "platform-reclaim-test"
POOL_QUEUE = "dev-gpu"
"""The GPU pool's ClusterQueue: nominal 0 (all 8 GPUs are the demo tenant's), borrows idle ones."""


@pytest.fixture
def platform_queue(engine: Engine, dyn: dynamic.DynamicClient) -> Iterator[str]:
    """A platform namespace (no tenant label) with a LocalQueue on the pool's ClusterQueue."""
    namespaces = dyn.resources.get(api_version="v1", kind="Namespace")
    namespaces.create(
        # Kueue manages only namespaces that opt in by label (components/scheduling.py).
        body={
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": PLATFORM_NAMESPACE, "labels": {"gigafactory.io/kueue": "true"}},
        }
    )
    dyn.resources.get(api_version=KUEUE_VERSION, kind="LocalQueue").create(
        body={
            "apiVersion": KUEUE_VERSION,
            "kind": "LocalQueue",
            "metadata": {"name": "platform", "namespace": PLATFORM_NAMESPACE},
            "spec": {"clusterQueue": POOL_QUEUE},
        },
        namespace=PLATFORM_NAMESPACE,
    )
    yield "platform"
    namespaces.delete(name=PLATFORM_NAMESPACE)

    def gone() -> bool:
        try:
            _read(dyn, "v1", "Namespace", PLATFORM_NAMESPACE)
        except ApiException as exc:
            return bool(exc.status == 404)
        return False

    _until(f"namespace {PLATFORM_NAMESPACE} to be gone", gone)


def _workload_in(dyn: dynamic.DynamicClient, job: str, namespace: str) -> dict[str, Any] | None:
    for w in _list(dyn, KUEUE_VERSION, "Workload", namespace):
        if any(o["name"] == job for o in w["metadata"].get("ownerReferences", [])):
            return w
    return None


def test_tenant_takes_its_contract_back_from_a_platform_job_that_filled_the_pool(
    dyn: dynamic.DynamicClient, submit: Callable[[int, int], str], platform_queue: str
) -> None:
    """The platform's queue owns none of the pool (8 GPUs, all contracted to demo) but borrows
    them while idle; demo's Job of its whole contract then preempts it (reclaimWithinCohort)."""
    platform_job = _job("platform-fill", 2, 4)  # 8 GPUs: the whole pool
    platform_job["metadata"].update(namespace=PLATFORM_NAMESPACE, labels={QUEUE_LABEL: platform_queue})
    dyn.resources.get(api_version="batch/v1", kind="Job").create(
        body=platform_job, namespace=PLATFORM_NAMESPACE
    )

    def admitted(job: str, namespace: str) -> bool:
        c = _condition(_workload_in(dyn, job, namespace), "Admitted")
        return c is not None and c["status"] == "True"

    def until_admitted(what: str, job: str, namespace: str) -> None:
        try:
            _until(what, lambda: admitted(job, namespace))
        except pytest.fail.Exception:
            w = _workload_in(dyn, job, namespace)
            pytest.fail(f"{what}: not admitted; workload status {(w or {}).get('status')!r}")

    until_admitted("the platform job to borrow the idle pool", "platform-fill", PLATFORM_NAMESPACE)

    def borrowed() -> str:
        usage = _read(dyn, KUEUE_VERSION, "ClusterQueue", POOL_QUEUE).get("status", {}).get("flavorsUsage")
        return str(usage[0]["resources"][0].get("borrowed")) if usage else ""

    _until("the pool queue to report the 8 borrowed GPUs", lambda: borrowed() == "8")

    tenant_job = submit(2, 4)  # demo's whole contract
    until_admitted(f"Kueue to admit {tenant_job} by reclaiming", tenant_job, TENANT_NAMESPACE)
    platform = _workload_in(dyn, "platform-fill", PLATFORM_NAMESPACE)
    preempted = _condition(platform, "Preempted")
    assert preempted is not None and preempted["status"] == "True", platform
    assert preempted["reason"] == "InCohortReclamation", preempted
    assert _read(dyn, "batch/v1", "Job", "platform-fill", PLATFORM_NAMESPACE)["spec"]["suspend"] is True


def test_bare_gpu_pod_in_a_tenant_namespace_is_refused_with_the_policys_message(
    engine: Engine, dyn: dynamic.DynamicClient
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bare-gpu", "namespace": TENANT_NAMESPACE},
        "spec": {
            "containers": [
                {"name": "x", "image": "registry.invalid/x:1", "resources": {"limits": {GPU_RESOURCE: "1"}}}
            ]
        },
    }
    pods = dyn.resources.get(api_version="v1", kind="Pod")
    with pytest.raises(ApiException) as refused:
        pods.create(body=pod, namespace=TENANT_NAMESPACE)
    assert refused.value.status == 403, refused.value.body
    assert GPU_ADMISSION_MESSAGE in str(refused.value.body), refused.value.body
    assert GPU_ADMISSION_POLICY in str(refused.value.body), refused.value.body
    # The same pod without GPUs passes (the LimitRange gives it nvidia.com/gpu: 0).
    del pod["spec"]["containers"][0]["resources"]  # type: ignore[index]
    pod["metadata"]["name"] = "no-gpu"  # type: ignore[index]
    pods.create(body=pod, namespace=TENANT_NAMESPACE)
    pods.delete(name="no-gpu", namespace=TENANT_NAMESPACE, body={"gracePeriodSeconds": 0})


# --- policy pack inside the engine ---------------------------------------------------------------


def test_preview_with_the_policy_pack_passes_the_unchanged_stack(engine: Engine) -> None:
    result = engine.gigafactory("preview", "--stack", STACK, "--policy-pack")
    assert result.rc == 0, result.text
    assert "policy violation" not in result.text


def test_preview_with_the_policy_pack_fails_a_stack_that_breaks_a_rule(
    engine: Engine, tmp_path: Path
) -> None:
    """A copy of the project whose laptop site moves to a coal-heavy grid (DE: ~340 g/kWh)."""
    copy = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    copy.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, copy / name)
    for folder in ("stacks", "sites", "charts", "policy"):
        shutil.copytree(REPO / folder, copy / folder, ignore=ignore)
    site = copy / "sites" / "kind.yaml"
    site.write_text(site.read_text(encoding="utf-8").replace("zone: NO-NO4", "zone: DE"), encoding="utf-8")

    result = engine.gigafactory("preview", "--stack", STACK, "--policy-pack", project=copy)

    assert result.rc == 1, result.text
    assert re.search(r"policy violation \(mandatory\): region-grid-carbon-max", result.err), result.text


# --- rollout rehearsal with the playbook ---------------------------------------------------------


def test_the_laptop_cluster_rolls_with_the_playbook_in_the_models_batches(engine: Engine) -> None:
    """playbooks/project/rollout.yml itself against the simulated nodes (gigafactory.sim.rollout):
    the model's batches, every pod evicted by the drain, every node schedulable again, and each
    measured batch recorded for the benchmark that compares it with the model."""
    _, cluster = sim.target(STACK)
    batches = rollout.model_batches(cluster)
    # GPU pools first: pool gpu's one rack (2 trays) is the canary; then pool system's rack (1 node).
    assert [(b.pool, b.racks, b.nodes, b.canary) for b in batches] == [
        ("gpu", ("lab-r0002",), 2, True),
        ("system", ("lab-r0001",), 1, False),
    ]
    hosts = [rollout.batch_hosts(cluster, b) for b in batches]
    assert hosts == [["lab-r0002-n01", "lab-r0002-n02"], ["lab-r0001-n01"]]
    namespace = "rollout-rehearsal"
    with sim.api_client(STACK) as api:
        code, data = kube.request(
            api,
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        )
        assert code == 201, kube.message(data)
        try:
            before = set(rollout.place_workload(api, namespace, [n for h in hosts for n in h]))
            runs = rollout.rehearse(STACK, batches)
            assert [list(r.hosts) for r in runs] == hosts
            assert [r.evicted for r in runs] == [2, 1]
            assert not before & {p["metadata"]["uid"] for p in rollout.running_pods(api, namespace)}
            for name in (n for h in hosts for n in h):
                code, node = kube.request(api, "GET", f"/api/v1/nodes/{name}")
                assert code == 200 and not node["spec"].get("unschedulable"), f"{name} still cordoned"
            # Each batch's wall time is recorded for the comparison with the model's controller
            # cost (benchmarks/bench_rollout.py): a benchmark, not a timed assertion.
            assert all(r.seconds > 0 for r in runs), [r.to_json() for r in runs]
        finally:
            kube.request(api, "DELETE", f"/api/v1/namespaces/{namespace}")


# --- destroy and sim down ------------------------------------------------------------------------


def test_destroy_leaves_no_object_of_the_stack(engine: Engine, dyn: dynamic.DynamicClient) -> None:
    result = engine.gigafactory("destroy", "--stack", STACK, "--yes")
    assert result.rc == 0, result.text

    def namespaces_gone() -> bool:
        names = {n["metadata"]["name"] for n in _list(dyn, "v1", "Namespace")}
        return not names & {TENANT_NAMESPACE, RELEASE_NAMESPACE}

    _until("the tenant and release namespaces to be deleted", namespaces_gone)
    left = [f"{o['kind']} {o['name']}" for o in declared_objects() if _get(dyn, o) is not None]
    assert left == [], f"left behind by destroy: {left}"
    queues = [q["metadata"]["name"] for q in _list(dyn, KUEUE_VERSION, "ClusterQueue")]
    assert queues == [], f"cluster queues left behind: {queues}"


def test_sim_down_leaves_no_process_and_no_file(engine: Engine) -> None:
    folder = sim.state_dir(STACK)
    sim.down(STACK)
    assert not folder.exists(), f"left behind: {sorted(p.name for p in folder.iterdir())}"
    assert _processes_mentioning(folder) == []


def _processes_mentioning(folder: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(folder) in cmdline:
            found.append(int(entry.name))
    return found
