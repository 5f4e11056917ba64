"""`gigafactory sim` against the real control plane, KWOK and Kueue (one simulator per session).

The last two tests kill and stop the simulator: they stay last in this file.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from gigafactory.baremetal import inventory
from gigafactory.sim import cluster as sim
from gigafactory.sim import kube, placement, procs
from gigafactory.site.model import GPU_RESOURCE, LABEL_HOSTNAME, LABEL_POOL
from tests.sim.conftest import Sim

TIMEOUT = 60.0


@pytest.fixture
def api(simulator: Sim) -> Iterator[client.ApiClient]:
    simulator.ensure_up()
    with kube.api_client(sim.kubeconfig_path(simulator.stack)) as api_client:
        yield api_client


def _until(what: str, check: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def _nodes(api: client.ApiClient) -> dict[str, dict[str, Any]]:
    """Every node read with the typed client, as wire-named dicts (None where unset)."""
    items = client.CoreV1Api(api).list_node().to_dict(serialize=True)["items"]
    return {n["metadata"]["name"]: n for n in items}


def _taints(node: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"key": t["key"], "value": t["value"] or "", "effect": t["effect"]}
        for t in node["spec"]["taints"] or []
    ]


def _ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"] or [])


def _pod(core: client.CoreV1Api, name: str, namespace: str) -> dict[str, Any]:
    return core.read_namespaced_pod(name, namespace).to_dict(serialize=True)


# --- nodes ---------------------------------------------------------------------------------------


def test_every_planned_node_is_ready_with_the_model_labels_taints_and_gpus(
    simulator: Sim, api: client.ApiClient
) -> None:
    nodes = _nodes(api)
    planned = {
        pool.node(i).name: (pool, pool.node(i))
        for pool in simulator.cluster.pools
        for i in range(pool.node_count)
    }
    assert sorted(nodes) == sorted(planned)
    for name, (pool, model) in planned.items():
        node = nodes[name]
        assert _ready(node), f"{name} is not Ready"
        assert node["metadata"]["labels"] == model.labels, name
        assert _taints(node) == [t.as_dict() for t in model.taints], name
        gpus = node["status"]["capacity"].get(GPU_RESOURCE)
        assert gpus == (str(pool.gpus_per_node) if pool.is_gpu else None), name
        assert node["status"]["allocatable"].get(GPU_RESOURCE) == gpus, name
    # The laptop site by hand: one system node in rack 1, two GB300 trays (4 GPUs each) in rack 2.
    system, gpu_a, gpu_b = nodes["lab-r0001-n01"], nodes["lab-r0002-n01"], nodes["lab-r0002-n02"]
    assert _taints(system) == []
    assert GPU_RESOURCE not in system["status"]["capacity"]
    for node in (gpu_a, gpu_b):
        assert node["status"]["capacity"][GPU_RESOURCE] == "4"
        assert _taints(node) == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
        assert node["metadata"]["labels"]["gigafactory.io/pool"] == "gpu"
        assert node["metadata"]["labels"]["gigafactory.io/rack"] == "lab-r0002"
        assert node["metadata"]["labels"]["gigafactory.io/su"] == "lab-su001"
        assert node["metadata"]["labels"]["gigafactory.io/hall"] == "lab"
        assert node["metadata"]["labels"]["gigafactory.io/sku"] == "gb300-nvl72"
    assert gpu_b["metadata"]["labels"][LABEL_HOSTNAME] == "lab-r0002-n02"


def test_simulated_nodes_carry_the_inventory_kubelet_labels_and_taints(
    simulator: Sim, api: client.ApiClient
) -> None:
    # Pool nodes only: the inventory also lists the control-plane hosts, which the simulator
    # replaces with its own API server.
    hostvars = {
        name: host
        for name, host in inventory.build(simulator.site, simulator.cluster.name).merged_hostvars().items()
        if "gigafactory_pool" in host
    }
    assert len(hostvars) == simulator.cluster.nodes
    nodes = _nodes(api)
    assert sorted(hostvars) == sorted(nodes)
    for name, host in hostvars.items():
        node = nodes[name]
        # kubelet adds the hostname label itself; everything else comes from --node-labels.
        assert node["metadata"]["labels"] == {**host["gigafactory_node_labels"], LABEL_HOSTNAME: name}, name
        assert _taints(node) == host["gigafactory_taints"], name
        assert node["status"]["capacity"].get(GPU_RESOURCE, "0") == str(host["gigafactory_gpus"]), name


def test_sim_status_counts_every_pool_ready(simulator: Sim) -> None:
    result = sim.status(simulator.stack)
    assert result.ready
    assert {p.pool: (p.planned, p.ready) for p in result.pools} == {
        p.name: (p.node_count, p.node_count) for p in simulator.cluster.pools
    }


# --- scheduling ----------------------------------------------------------------------------------


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    core = client.CoreV1Api(api)
    name = f"sim-test-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    # Pods need the namespace's default service account, made by the controller manager.
    _until(
        f"service account default in {name}",
        lambda: any(
            sa["metadata"]["name"] == "default"
            for sa in core.list_namespaced_service_account(name).to_dict(serialize=True)["items"]
        ),
    )
    yield name
    core.delete_namespace(name)


def _gpu_pod(simulator: Sim, name: str, gpus: int) -> client.V1Pod:
    """A pod asking for ``gpus`` GPUs with the GPU pool's node selector and tolerations."""
    pool = simulator.cluster.gpu_pools[0]
    pod = client.V1Pod.from_dict(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "nodeSelector": {LABEL_POOL: pool.name},
                "tolerations": pool.tolerations,
                "containers": [
                    {
                        "name": "train",
                        "image": "registry.invalid/train:1",
                        "resources": {"limits": {GPU_RESOURCE: str(gpus)}},
                    }
                ],
            },
        }
    )
    assert pod is not None
    return pod


def test_gpu_pod_is_bound_to_its_pool_and_runs(simulator: Sim, api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    pool = simulator.cluster.gpu_pools[0]
    core.create_namespaced_pod(namespace, _gpu_pod(simulator, "fits", pool.gpus_per_node))
    pod = _until(
        "pod fits Running",
        lambda: (p := _pod(core, "fits", namespace))["status"]["phase"] == "Running" and p,
    )
    assert pod["spec"]["nodeName"] in {n.name for n in pool.nodes()}
    assert pod["status"]["podIP"]


def test_pod_that_does_not_fit_stays_pending_with_the_scheduler_reason(
    simulator: Sim, api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api)
    pool = simulator.cluster.gpu_pools[0]
    core.create_namespaced_pod(namespace, _gpu_pod(simulator, "too-big", pool.gpus_per_node + 1))

    def unschedulable() -> Any:
        conditions = _pod(core, "too-big", namespace)["status"]["conditions"] or []
        return next(
            (c for c in conditions if c["type"] == "PodScheduled" and c["reason"] == "Unschedulable"), None
        )

    condition = _until("pod too-big Unschedulable", unschedulable)
    assert f"Insufficient {GPU_RESOURCE}" in condition["message"]
    pod = _pod(core, "too-big", namespace)
    assert pod["status"]["phase"] == "Pending" and not pod["spec"]["nodeName"]


# --- Kueue ---------------------------------------------------------------------------------------


def test_kueue_makes_a_cluster_queue_active(simulator: Sim, api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api)
    pool = simulator.cluster.gpu_pools[0]
    name = f"sim-test-{uuid.uuid4().hex[:8]}"
    group, version = "kueue.x-k8s.io", "v1beta2"
    custom.create_cluster_custom_object(
        group,
        version,
        "resourceflavors",
        {
            "apiVersion": f"{group}/{version}",
            "kind": "ResourceFlavor",
            "metadata": {"name": name},
            "spec": {"nodeLabels": {LABEL_POOL: pool.name}, "tolerations": pool.tolerations},
        },
    )
    custom.create_cluster_custom_object(
        group,
        version,
        "clusterqueues",
        {
            "apiVersion": f"{group}/{version}",
            "kind": "ClusterQueue",
            "metadata": {"name": name},
            "spec": {
                "namespaceSelector": {},
                "resourceGroups": [
                    {
                        "coveredResources": [GPU_RESOURCE],
                        "flavors": [
                            {"name": name, "resources": [{"name": GPU_RESOURCE, "nominalQuota": pool.gpus}]}
                        ],
                    }
                ],
            },
        },
    )

    def active() -> bool:
        queue: Any = custom.get_cluster_custom_object(group, version, "clusterqueues", name)
        conditions = (queue.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Active" and c["status"] == "True" for c in conditions)

    try:
        _until(f"ClusterQueue {name} Active", active)
    finally:
        custom.delete_cluster_custom_object(group, version, "clusterqueues", name)
        custom.delete_cluster_custom_object(group, version, "resourceflavors", name)


def _job(name: str, gpus: int) -> dict[str, Any]:
    """A plain batch/v1 Job as a tenant would write it: no queue name, not suspended."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "train",
                            "image": "registry.invalid/train:1",
                            "resources": {"limits": {GPU_RESOURCE: str(gpus)}},
                        }
                    ],
                }
            }
        },
    }


def test_kueue_suspends_a_job_without_queue_name_as_it_is_created(
    simulator: Sim, api: client.ApiClient, namespace: str
) -> None:
    """Kueue's Job webhooks: in a namespace Kueue manages (the tenant's), a Job without a queue
    name is suspended and put in the LocalQueue "default" by the create itself, before the Job
    controller could make a pod; in a namespace Kueue does not manage it is left alone."""
    cluster = simulator.cluster
    (tenant,) = simulator.site.tenants_of(cluster.name)  # demo: 8 GPUs of pool gpu
    objects = placement.cluster_objects(cluster, [tenant])
    placement.apply(api, objects)
    ns, queue = tenant.namespace, placement.local_queue(tenant)
    try:

        def local_queue_active() -> bool:
            code, lq = kube.request(
                api, "GET", f"/apis/{placement.KUEUE_API}/namespaces/{ns}/localqueues/{queue}"
            )
            conditions = (lq.get("status") or {}).get("conditions") or [] if code == 200 else []
            return any(c["type"] == "Active" and c["status"] == "True" for c in conditions)

        _until(f"LocalQueue {ns}/{queue} Active", local_queue_active)
        code, created = kube.request(api, "POST", f"/apis/batch/v1/namespaces/{ns}/jobs", _job("plain", 4))
        assert code == 201, kube.message(created)
        # The object the create returned: mutated by the webhook, not later by a controller.
        assert created["spec"]["suspend"] is True
        assert created["metadata"]["labels"][placement.QUEUE_LABEL] == queue

        code, other = kube.request(
            api, "POST", f"/apis/batch/v1/namespaces/{namespace}/jobs", _job("plain", 0)
        )
        assert code == 201, kube.message(other)
        assert other["spec"].get("suspend") is False
        assert placement.QUEUE_LABEL not in (other["metadata"].get("labels") or {})
    finally:
        kube.request(
            api,
            "DELETE",
            f"/apis/batch/v1/namespaces/{ns}/jobs/plain",
            {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
        )
        placement.delete(api, objects)


# --- lifecycle (kills and stops the simulator: keep last) ----------------------------------------


def _started(folder: Path) -> list[procs.Proc]:
    state = sim.State.load(folder)
    assert state is not None, f"no readable {folder / sim.STATE_FILE}"
    return state.processes


def test_up_after_the_processes_were_killed_recovers(simulator: Sim) -> None:
    simulator.ensure_up()
    before = _started(simulator.folder)
    assert [p.name for p in before] == list(sim.PROCESSES)
    for proc in before:
        os.kill(proc.pid, signal.SIGKILL)
    _until("the killed processes to be gone", lambda: not any(procs.running(p) for p in before), 10)
    assert not sim.status(simulator.stack).running

    result = sim.up(simulator.stack)

    assert result.ready
    after = _started(simulator.folder)
    assert all(procs.running(p) for p in after)
    assert not {p.pid for p in after} & {p.pid for p in before}


def _processes_mentioning(folder: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(folder) in cmdline and procs.start_time(int(entry.name)) is not None:
            found.append(int(entry.name))
    return found


def test_down_leaves_no_process_and_no_file(simulator: Sim) -> None:
    simulator.ensure_up()
    started = _started(simulator.folder)

    stopped = sim.down(simulator.stack)

    assert sorted(stopped) == sorted(sim.PROCESSES)
    assert not any(procs.running(p) for p in started)
    assert not simulator.folder.exists()
    assert _processes_mentioning(simulator.folder) == []
    assert sim.down(simulator.stack) == []
