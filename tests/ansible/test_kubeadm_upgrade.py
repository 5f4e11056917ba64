"""A real Kubernetes upgrade, one minor release: a control plane and a worker start on the previous
release (kubelet, kubeadm and control-plane images built from Go modules, toolchain component
kubernetes-previous), the site file is raised to the current release, and upgrade.yml runs
`kubeadm upgrade apply` on the control plane, then upgrades the worker in its rollout batch
(cordon, drain, packages, `kubeadm upgrade node`, kubelet restart, Ready, uncordon). Every
assertion reads the API server. Harness: tests/ansible/kubeadm_cluster.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.ansible.conftest import Engine, PlaybookResult, run_playbook, site_inventory_subset
from tests.ansible.kubeadm_cluster import (
    KUBERNETES_VERSION,
    NODE_VARS,
    PREVIOUS_VERSION,
    SLOW,
    KubeNodes,
    kubectl_wrapper,
    start_cluster,
    stop_kube_nodes,
    write_test_site,
)

pytestmark = pytest.mark.containers

CONTROL_PLANE = "c1-cp1"
WORKER = "hall-a-r0241-n01"  # pool system (CPU server), rack 241
HOSTS = [CONTROL_PLANE, WORKER]
POD_SUBNETS = {CONTROL_PLANE: "10.128.1.0/24", WORKER: "10.128.3.0/24"}
OLD_VARS = {**NODE_VARS, "kubelet_version": PREVIOUS_VERSION}


@dataclass
class Cluster:
    nodes: KubeNodes
    work: Path
    engine: Engine


@pytest.fixture(scope="module")
def cluster(engine: Engine, session_dir: Path) -> Iterator[Cluster]:
    work = session_dir / "kubeadm-upgrade"
    work.mkdir()
    old_site = write_test_site(work / "narvik-old.yaml", PREVIOUS_VERSION)
    started = start_cluster(
        engine, work, old_site, HOSTS, POD_SUBNETS, OLD_VARS, (KUBERNETES_VERSION, PREVIOUS_VERSION)
    )
    try:
        started.nodes.wait_ready(HOSTS)
        yield Cluster(started.nodes, work, engine)
    finally:
        stop_kube_nodes(started.nodes)


def _versions(cluster: Cluster) -> dict[str, str]:
    nodes = json.loads(cluster.nodes.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    return {n["metadata"]["name"]: n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes}


def _server_version(cluster: Cluster) -> str:
    version: str = json.loads(cluster.nodes.kubectl("version", "-o", "json").stdout)["serverVersion"][
        "gitVersion"
    ]
    return version


def _upgrade(cluster: Cluster) -> PlaybookResult:
    """upgrade.yml as the runbook says: the site file raised to the new release, the inventory
    built from it, kubelet_version raised with it."""
    new_site = write_test_site(cluster.work / "narvik-new.yaml", KUBERNETES_VERSION)
    inventory = site_inventory_subset(cluster.engine, cluster.work / "inventory-new.yml", HOSTS, new_site)
    kubectl = kubectl_wrapper(cluster.engine, cluster.work, CONTROL_PLANE)
    extra: dict[str, Any] = {
        **NODE_VARS,
        "rollout_kubectl": str(kubectl),
        "rollout_hardware": False,
        "rollout_burnin_enabled": False,
    }
    return run_playbook("upgrade.yml", inventory, extra_vars=extra, timeout=SLOW)


def test_cluster_starts_on_the_previous_release(cluster: Cluster) -> None:
    assert _server_version(cluster) == f"v{PREVIOUS_VERSION}"
    assert _versions(cluster) == {h: f"v{PREVIOUS_VERSION}" for h in HOSTS}


def test_upgrade_moves_control_plane_then_worker_to_the_new_release(cluster: Cluster) -> None:
    result = _upgrade(cluster)
    assert result.rc == 0, result.failures()
    # The control plane first (kubeadm upgrade apply), then the worker (kubeadm upgrade node).
    order = [
        (name, host)
        for name, host, r in result.task_results()
        if "kubeadm upgrade" in name and r.get("changed")
    ]
    assert [h for _, h in order] == [CONTROL_PLANE, WORKER], order
    assert "apply" in order[0][0] and "upgrade node" in order[1][0], order
    # Through the API server: the API server and both kubelets run the new release ...
    assert _server_version(cluster) == f"v{KUBERNETES_VERSION}"
    cluster.nodes.wait_ready(HOSTS)
    assert _versions(cluster) == {h: f"v{KUBERNETES_VERSION}" for h in HOSTS}
    # ... the control-plane static pods run the new images, the cluster's kubeadm
    # configuration names the new release, and the worker took work again (uncordoned).
    pods = json.loads(cluster.nodes.kubectl("get", "pods", "-n", "kube-system", "-o", "json").stdout)["items"]
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        pod = next(p for p in pods if p["metadata"]["name"] == f"{component}-{CONTROL_PLANE}")
        assert pod["spec"]["containers"][0]["image"] == f"gigafactory.test/{component}:v{KUBERNETES_VERSION}"
    config = json.loads(
        cluster.nodes.kubectl("get", "configmap", "kubeadm-config", "-n", "kube-system", "-o", "json").stdout
    )
    assert f"kubernetesVersion: v{KUBERNETES_VERSION}" in config["data"]["ClusterConfiguration"]
    assert not cluster.nodes.node(WORKER)["spec"].get("unschedulable")
    # The packages moved to the new release's repository and stay held there.
    for host in HOSTS:
        held = cluster.engine.exec(host, "apt-mark", "showhold").stdout.split()
        assert {"kubeadm", "kubelet", "kubectl"} <= set(held), (host, held)
        version = cluster.engine.exec(host, "dpkg-query", "-W", "-f=${Version}", "kubelet").stdout
        assert version == f"{KUBERNETES_VERSION}-1.1", (host, version)


def test_upgrade_again_changes_nothing(cluster: Cluster) -> None:
    result = _upgrade(cluster)
    assert result.rc == 0, result.failures()
    assert result.changed() == 0, result.changed_tasks()
