"""kubeadm for real: container nodes boot systemd and run containerd 2.x, kubelet and kubeadm built
from Go modules (tests/ansible/kubeadm_cluster.py); prepare.yml installs them from the mirror,
cluster.yml initialises the first control plane, joins a second control plane (stacked etcd, the
certificates through a fresh certificate key) and two workers (a GB300 tray of pool train, a CPU
server of pool system), and every assertion reads the API server."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gigafactory.baremetal.kubeadm import documents
from gigafactory.site import load_site
from gigafactory.site.model import Pool, Site
from tests.ansible.conftest import (
    CLUSTER,
    Engine,
    PlaybookResult,
    run_playbook,
)
from tests.ansible.kubeadm_cluster import (
    KUBERNETES_VERSION,
    NODE_VARS,
    SLOW,
    KubeNodes,
    kubectl_wrapper,
    redacted,
    start_cluster,
    stop_kube_nodes,
    write_test_site,
)

pytestmark = pytest.mark.containers

CONTROL_PLANE = "c1-cp1"
SECOND_CONTROL_PLANE = "c1-cp2"  # the model's c1 has three; two make a real control-plane join
CONTROL_PLANES = [CONTROL_PLANE, SECOND_CONTROL_PLANE]
GPU_WORKER = "hall-a-r0001-n01"  # pool train (GB300 NVL72), rack 1
CPU_WORKER = "hall-a-r0241-n01"  # pool system (CPU), rack 241
WORKERS = [GPU_WORKER, CPU_WORKER]
HOSTS = [*CONTROL_PLANES, *WORKERS]
# Each node's pod subnet for the test's bridge CNI: /24s of the model's pod network 10.128.0.0/11.
POD_SUBNETS = {
    CONTROL_PLANE: "10.128.1.0/24",
    GPU_WORKER: "10.128.2.0/24",
    CPU_WORKER: "10.128.3.0/24",
    SECOND_CONTROL_PLANE: "10.128.4.0/24",
}
ANNOTATION = "gigafactory.io/rollout-failure"
# The rollout's burn-in runs the gpu-burnin chart (GPUs, DCGM, NCCL): nothing to run it on here.
NO_BURNIN = {"rollout_burnin_enabled": False}


@dataclass
class Cluster:
    nodes: KubeNodes
    inventory: Path
    site: Site
    first: PlaybookResult
    work: Path


def _pool(site: Site, host: str) -> tuple[Pool, int]:
    cluster = site.cluster(CLUSTER)
    for pool in cluster.pools:
        for i in range(pool.node_count):
            if pool.hostname(i) == host:
                return pool, i
    raise AssertionError(f"{host} is not a worker of {CLUSTER}")


@pytest.fixture(scope="module")
def cluster(engine: Engine, session_dir: Path) -> Iterator[Cluster]:
    work = session_dir / "kubeadm"
    work.mkdir()
    site_file = write_test_site(work / "narvik-test.yaml")
    started = start_cluster(engine, work, site_file, HOSTS, POD_SUBNETS, NODE_VARS)
    try:
        yield Cluster(started.nodes, started.inventory, load_site(site_file), started.created, work)
    finally:
        stop_kube_nodes(started.nodes)


def _taints(node: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"key": t["key"], "value": t.get("value", ""), "effect": t["effect"]}
        for t in node["spec"].get("taints", [])
    ]


def _own_labels(node: dict[str, Any]) -> dict[str, str]:
    """The node's labels less those kubelet and kubeadm add to every node."""
    builtin = ("kubernetes.io/", "beta.kubernetes.io/", "node.kubernetes.io/")
    return {k: v for k, v in node["metadata"]["labels"].items() if not k.startswith(builtin)}


def test_control_plane_initialises_and_workers_join_ready(cluster: Cluster) -> None:
    cluster.nodes.wait_ready(HOSTS)
    names = cluster.nodes.kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    assert sorted(names) == sorted(HOSTS)
    for host in HOSTS:
        info = cluster.nodes.node(host)["status"]["nodeInfo"]
        assert info["kubeletVersion"] == f"v{KUBERNETES_VERSION}", host
        assert info["containerRuntimeVersion"] == "containerd://2.3.4", host
    version = json.loads(cluster.nodes.kubectl("version", "-o", "json").stdout)["serverVersion"]
    assert version["gitVersion"] == f"v{KUBERNETES_VERSION}"
    for host in CONTROL_PLANES:
        assert _taints(cluster.nodes.node(host)) == [
            {"key": "node-role.kubernetes.io/control-plane", "value": "", "effect": "NoSchedule"}
        ], host
    # No bootstrap token outlives the joins' 30 minutes (roles/kubeadm kubeadm_token_ttl): init's
    # own is 15 min (InitConfiguration), not kubeadm's default of 24 h = 86,400 s.
    tokens = json.loads(
        cluster.nodes.kubectl(
            "get",
            "secrets",
            "-n",
            "kube-system",
            "--field-selector=type=bootstrap.kubernetes.io/token",
            "-o",
            "json",
        ).stdout
    )["items"]
    assert tokens, "no bootstrap token at all: the joins made none"
    for secret in tokens:
        expires = base64.b64decode(secret["data"]["expiration"]).decode()
        lifetime = _when(expires) - _when(secret["metadata"]["creationTimestamp"])
        assert lifetime <= dt.timedelta(minutes=30, seconds=10), (secret["metadata"]["name"], lifetime)


def test_second_control_plane_joined_with_its_own_api_server_and_etcd_member(cluster: Cluster) -> None:
    # Each control plane runs the static pods kubeadm made for it (kube-system/<component>-<node>).
    pods = json.loads(cluster.nodes.kubectl("get", "pods", "-n", "kube-system", "-o", "json").stdout)["items"]
    running = {p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running"}
    for host in CONTROL_PLANES:
        for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            assert f"{component}-{host}" in running, (component, host, sorted(running))
    # Both API servers serve the cluster: each registers its model address (advertiseAddress) in
    # the kubernetes Service's endpoints.
    endpoints = json.loads(cluster.nodes.kubectl("get", "endpoints", "kubernetes", "-o", "json").stdout)
    ips = sorted(a["ip"] for subset in endpoints["subsets"] for a in subset["addresses"])
    assert ips == sorted(cluster.nodes.addresses[h] for h in CONTROL_PLANES)
    # Stacked etcd: one member per control plane, each at its node's model address (kubeadm's
    # ClusterStatus is gone since v1beta3; the etcd pods' advertise URLs say it).
    for host in CONTROL_PLANES:
        pod = next(p for p in pods if p["metadata"]["name"] == f"etcd-{host}")
        command = pod["spec"]["containers"][0]["command"]
        assert f"--advertise-client-urls=https://{cluster.nodes.addresses[host]}:2379" in command, host
    # The joining control plane's etcd found the first one's member (--initial-cluster names both).
    joined = next(p for p in pods if p["metadata"]["name"] == f"etcd-{SECOND_CONTROL_PLANE}")
    initial = next(
        a for a in joined["spec"]["containers"][0]["command"] if a.startswith("--initial-cluster=")
    )
    for host in CONTROL_PLANES:
        assert f"{host}=https://{cluster.nodes.addresses[host]}:2380" in initial, initial
    # The shared certificates uploaded for the join are gone with it: no kubeadm-certs Secret
    # keeps them for kubeadm's 2 h (the role deletes it and its token after each join).
    secrets = json.loads(cluster.nodes.kubectl("get", "secrets", "-n", "kube-system", "-o", "json").stdout)
    assert "kubeadm-certs" not in {s["metadata"]["name"] for s in secrets["items"]}


def _when(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_workers_carry_exactly_their_pools_labels_and_taints(cluster: Cluster) -> None:
    cluster.nodes.wait_ready(WORKERS)
    gpu_pool, gpu_index = _pool(cluster.site, GPU_WORKER)
    gpu = cluster.nodes.node(GPU_WORKER)
    # Written out: a GB300 tray of pool train registers with the GPU taint and the untested
    # taint (a passed burn-in removes it) and the pool and topology labels of rack 1.
    assert _taints(gpu) == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
        {"key": "gigafactory.io/untested", "value": "true", "effect": "NoSchedule"},
    ]
    assert _own_labels(gpu) == {
        "gigafactory.io/site": "narvik",
        "gigafactory.io/cluster": "c1",
        "gigafactory.io/pool": "train",
        "gigafactory.io/role": "training",
        "gigafactory.io/sku": "gb300-nvl72",
        "gigafactory.io/gpu": "true",
        "gigafactory.io/hall": "hall-a",
        "gigafactory.io/su": "hall-a-su001",
        "gigafactory.io/rack": "hall-a-r0001",
    }
    # ... which is what the model gives the pool.
    assert _own_labels(gpu) == gpu_pool.node_labels(gpu_index)
    assert _taints(gpu) == [t.as_dict() for t in gpu_pool.registration_taints]
    cpu_pool, cpu_index = _pool(cluster.site, CPU_WORKER)
    cpu = cluster.nodes.node(CPU_WORKER)
    assert _taints(cpu) == []  # the system pool takes everything else
    assert _own_labels(cpu) == cpu_pool.node_labels(cpu_index)
    assert _own_labels(cpu)["gigafactory.io/pool"] == "system"


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in recursively (what Ansible's combine(recursive=true) does)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = (
            _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def test_nodes_keep_the_models_documents_and_no_secret(cluster: Cluster, engine: Engine) -> None:
    import yaml

    for host in HOSTS:
        text = engine.read(host, "/etc/kubernetes/gigafactory/kubeadm.yaml")
        docs = list(yaml.safe_load_all(text))
        overrides = NODE_VARS["kubeadm_document_overrides"]
        # The model's documents with the test's additions (image mirror, etcd tag, cgroup v1,
        # timeouts) merged in by kind, and nothing else.
        want = [
            _merged(doc, overrides.get(doc["kind"], {}))
            for doc in documents(cluster.site, cluster.site.cluster(CLUSTER), host)
        ]
        assert docs == want, host
        if host == CONTROL_PLANE:
            assert want[1]["imageRepository"] == "gigafactory.test" and want[2]["failCgroupV1"] is False
        assert list(redacted(text)) == [], host
        # The join file with the token lived only while kubeadm read it.
        assert (
            engine.exec(host, "test", "-e", "/run/gigafactory/kubeadm-join.yaml", check=False).returncode == 1
        )
    # No token or certificate key in the playbook's output (the json callback shows every result).
    tokens = cluster.nodes.kubectl("get", "secrets", "-n", "kube-system", "-o", "json").stdout
    ids = [
        s["data"]["token-id"]
        for s in json.loads(tokens)["items"]
        if s["type"] == "bootstrap.kubernetes.io/token"
    ]
    assert ids, "no bootstrap token found to look for"
    import base64

    for token_id in ids:
        assert base64.b64decode(token_id).decode() not in cluster.first.stdout
    assert list(redacted(cluster.first.stdout)) == []


def test_rerunning_the_playbook_changes_nothing(cluster: Cluster) -> None:
    second = run_playbook("cluster.yml", cluster.inventory, extra_vars=NODE_VARS, timeout=SLOW)
    assert second.rc == 0, second.failures()
    assert second.changed() == 0, f"not idempotent: {second.changed_tasks()}"


def _kubectl_wrapper(cluster: Cluster) -> Path:
    return kubectl_wrapper(cluster.nodes.engine, cluster.work, CONTROL_PLANE)


def test_driver_rollout_returns_every_worker_to_ready_and_schedulable(
    cluster: Cluster, engine: Engine
) -> None:
    extra = {
        **NODE_VARS,
        "rollout_kubectl": str(_kubectl_wrapper(cluster)),
        "rollout_hardware": False,
        **NO_BURNIN,
    }
    result = run_playbook(
        "rollout.yml",
        cluster.inventory,
        extra_vars={**extra, "nvidia_driver_version": "580.999.1"},
        timeout=SLOW,
    )
    assert result.rc == 0, result.failures()
    ran = {
        h
        for name, h, r in result.task_results()
        if name.endswith("Report the reboot a container cannot do") and not r.get("skipped")
    }
    # The driver changed on the GPU tray. (The CPU server reboots too in this module: its prepare
    # ran only the containerd and kubelet roles, so this first rollout installs its kernel.)
    assert GPU_WORKER in ran
    assert (
        engine.exec(GPU_WORKER, "dpkg-query", "-W", "-f=${Version}", "nvidia-open-580").stdout
        == "580.999.1-1"
    )
    cluster.nodes.wait_ready(WORKERS)
    for host in WORKERS:
        node = cluster.nodes.node(host)
        assert not node["spec"].get("unschedulable"), host
        assert ANNOTATION not in node["metadata"].get("annotations", {}), host


def test_failed_health_check_stops_the_rollout_with_the_node_cordoned(
    cluster: Cluster, engine: Engine
) -> None:
    extra = {
        **NODE_VARS,
        "rollout_kubectl": str(_kubectl_wrapper(cluster)),
        "rollout_hardware": False,
        **NO_BURNIN,
    }
    # The canary rack (rack 1: the GPU tray) fails its health gate: kubelet's binary is gone
    # (the running kubelet keeps the node Ready), so the files check fails.
    engine.exec(GPU_WORKER, "mv", "/usr/bin/kubelet", "/usr/bin/kubelet.off")
    try:
        result = run_playbook("rollout.yml", cluster.inventory, extra_vars=extra, timeout=SLOW)
    finally:
        engine.exec(GPU_WORKER, "mv", "/usr/bin/kubelet.off", "/usr/bin/kubelet")
    assert result.rc != 0
    failed = cluster.nodes.node(GPU_WORKER)
    assert failed["spec"].get("unschedulable") is True
    assert "files failed" in failed["metadata"]["annotations"][ANNOTATION]
    # The rollout stopped after the canary: the CPU server's rack was never cordoned.
    later = cluster.nodes.node(CPU_WORKER)
    assert not later["spec"].get("unschedulable")
    assert not [h for n, h, _ in result.task_results() if n.endswith("Cordon the node") and h == CPU_WORKER]
    cluster.nodes.kubectl("uncordon", GPU_WORKER)


def test_reset_removes_a_worker_and_cluster_yml_joins_it_again(cluster: Cluster, engine: Engine) -> None:
    reset = run_playbook("reset.yml", cluster.inventory, extra_vars=NODE_VARS, limit=CPU_WORKER, timeout=SLOW)
    assert reset.rc == 0, reset.failures()
    assert cluster.nodes.kubectl("get", "node", CPU_WORKER, check=False).returncode != 0
    assert engine.exec(CPU_WORKER, "test", "-e", "/etc/kubernetes/kubelet.conf", check=False).returncode == 1
    again = run_playbook("reset.yml", cluster.inventory, extra_vars=NODE_VARS, limit=CPU_WORKER, timeout=SLOW)
    assert again.rc == 0 and again.changed() == 0, again.changed_tasks()
    rejoin = run_playbook("cluster.yml", cluster.inventory, extra_vars=NODE_VARS, timeout=SLOW)
    assert rejoin.rc == 0, rejoin.failures()
    assert [t for t in rejoin.changed_tasks() if "Run kubeadm join" in t] == [
        f"kubeadm : Run kubeadm join @ {CPU_WORKER}"
    ]
    cluster.nodes.wait_ready([CPU_WORKER])


def test_reset_without_limit_is_refused(cluster: Cluster) -> None:
    result = run_playbook("reset.yml", cluster.inventory, extra_vars=NODE_VARS, timeout=SLOW)
    assert result.rc != 0
    assert "name them with --limit" in result.failures()
    assert cluster.nodes.kubectl("get", "node", CPU_WORKER, check=False).returncode == 0


def test_upgrade_to_the_running_version_changes_nothing(cluster: Cluster) -> None:
    extra = {
        **NODE_VARS,
        "rollout_kubectl": str(_kubectl_wrapper(cluster)),
        "rollout_hardware": False,
        **NO_BURNIN,
    }
    result = run_playbook("upgrade.yml", cluster.inventory, extra_vars=extra, timeout=SLOW)
    assert result.rc == 0, result.failures()
    assert result.changed() == 0, result.changed_tasks()


def test_upgrade_skipping_a_minor_release_is_refused_before_any_change(cluster: Cluster) -> None:
    # 1.36 -> 1.38 skips 1.37: kubeadm upgrades one minor release at a time.
    extra = {**NODE_VARS, "rollout_kubectl": "/bin/false", "kubeadm_upgrade_version": "1.38.0"}
    result = run_playbook("upgrade.yml", cluster.inventory, extra_vars=extra, timeout=SLOW)
    assert result.rc != 0
    assert "cannot upgrade c1 from v1.36.3 to v1.38.0" in result.failures()
    assert result.changed() == 0
