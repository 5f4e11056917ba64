"""`prepare` on real Debian 12 container nodes: real state, then idempotence."""

from __future__ import annotations

from pathlib import Path

import pytest

from gigafactory.site import load_site
from tests.ansible.conftest import CLUSTER, CONTAINER_VARS, NODE_HOSTS, SITE_FILE, Engine, run_playbook

pytestmark = pytest.mark.containers

GPU_HOSTS = NODE_HOSTS[:3]
CPU_HOST = NODE_HOSTS[3]


@pytest.fixture(scope="module")
def prepared(nodes: Path) -> tuple[Path, str]:
    first = run_playbook("prepare.yml", nodes, extra_vars=CONTAINER_VARS)
    assert first.rc == 0, first.failures()
    assert first.changed() > 0
    return nodes, first.stdout


def _pool_of(host: str) -> tuple[object, int]:
    site = load_site(SITE_FILE)
    cluster = site.cluster(CLUSTER)
    for pool in cluster.pools:
        for i in range(pool.node_count):
            p = pool.node_placement(i)
            if f"{p.rack}-n{p.slot:02d}" == host:
                return pool, i
    raise AssertionError(f"{host} not in cluster {CLUSTER}")


def test_kernel_parameters_and_hugepages_are_written(prepared: tuple[Path, str], engine: Engine) -> None:
    text = engine.read(GPU_HOSTS[0], "/etc/sysctl.d/90-gigafactory.conf")
    assert "vm.nr_hugepages = 128" in text
    assert "net.ipv4.ip_forward = 1" in text
    assert "br_netfilter" in engine.read(GPU_HOSTS[0], "/etc/modules-load.d/gigafactory.conf")
    assert "* - memlock unlimited" in engine.read(GPU_HOSTS[0], "/etc/security/limits.d/90-gigafactory.conf")
    assert "server ntp.test.invalid iburst" in engine.read(
        GPU_HOSTS[0], "/etc/chrony/sources.d/gigafactory.sources"
    )


def test_baseline_packages_come_from_debian(prepared: tuple[Path, str], engine: Engine) -> None:
    status = engine.exec(CPU_HOST, "dpkg-query", "-W", "-f=${Status}", "chrony").stdout
    assert status == "install ok installed"


def test_gpu_nodes_get_the_pinned_driver_branch_held(prepared: tuple[Path, str], engine: Engine) -> None:
    for host in GPU_HOSTS:
        version = engine.exec(host, "dpkg-query", "-W", "-f=${Version}", "nvidia-open-580").stdout
        # The mirror also carries a newer 580 build and a 595 branch: the pin must win.
        assert version == "580.173.02-1", host
        assert "hold" in engine.exec(host, "dpkg", "--get-selections", "nvidia-open-580").stdout
        assert engine.exec(host, "dpkg-query", "-W", "nvidia-open-595", check=False).returncode != 0
    assert engine.exec(CPU_HOST, "dpkg-query", "-W", "nvidia-open-580", check=False).returncode != 0


def test_imex_peers_are_the_rack(prepared: tuple[Path, str], engine: Engine) -> None:
    peers = engine.read(GPU_HOSTS[0], "/etc/nvidia-imex/nodes_config.cfg").split()
    peers = [p for p in peers if not p.startswith("#") and p[0].isdigit()]
    # Rack 1 of hall-a is offset 32 in 10.16.0.0/18; the two test trays of rack 1 are slots 1 and 2.
    assert peers == ["10.16.0.33", "10.16.0.34"]


def test_containerd_has_the_nvidia_runtime_and_cdi(prepared: tuple[Path, str], engine: Engine) -> None:
    import tomllib

    gpu = tomllib.loads(engine.read(GPU_HOSTS[0], "/etc/containerd/config.toml"))
    runtime = gpu["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["enable_cdi"] is True
    assert runtime["containerd"]["default_runtime_name"] == "nvidia"
    assert (
        runtime["containerd"]["runtimes"]["nvidia"]["options"]["BinaryName"]
        == "/usr/bin/nvidia-container-runtime"
    )
    assert engine.exec(GPU_HOSTS[0], "test", "-x", "/usr/bin/nvidia-container-runtime").returncode == 0
    cpu = tomllib.loads(engine.read(CPU_HOST, "/etc/containerd/config.toml"))
    assert "nvidia" not in cpu["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]
    assert engine.exec(CPU_HOST, "dpkg-query", "-W", "-f=${Version}", "containerd.io").stdout == "2.3.4-1"


def test_gpu_node_registers_untested_and_cpu_node_does_not(
    prepared: tuple[Path, str], engine: Engine
) -> None:
    import yaml

    def registered(host: str) -> list[str]:
        drop_in = yaml.safe_load(engine.read(host, "/etc/kubernetes/kubelet.conf.d/50-gigafactory.conf"))
        return [f"{t['key']}={t['value']}:{t['effect']}" for t in drop_in["registerWithTaints"]]

    assert registered(GPU_HOSTS[0]) == [
        "nvidia.com/gpu=present:NoSchedule",
        "gigafactory.io/untested=true:NoSchedule",
    ]
    assert registered(CPU_HOST) == []


def test_kernel_is_the_pinned_one_and_held(prepared: tuple[Path, str], engine: Engine) -> None:
    for host in (GPU_HOSTS[0], CPU_HOST):
        # The stand-in mirror also carries the next upload (6.17.0-20): the pin must win.
        version = engine.exec(host, "dpkg-query", "-W", "-f=${Version}", "linux-generic-hwe-24.04").stdout
        assert version == "6.17.0-19.19~24.04.1", host
        assert "hold" in engine.exec(host, "dpkg", "--get-selections", "linux-generic-hwe-24.04").stdout


def test_kubelet_carries_the_model_labels_and_taints(prepared: tuple[Path, str], engine: Engine) -> None:
    import yaml

    for host in (GPU_HOSTS[2], CPU_HOST):
        pool, index = _pool_of(host)
        text = engine.read(host, "/etc/default/kubelet")
        flag = next(part for part in text.split() if part.startswith("--node-labels="))
        labels = dict(kv.split("=", 1) for kv in flag.removeprefix("--node-labels=").rstrip('"').split(","))
        assert labels == pool.node_labels(index), host  # type: ignore[attr-defined]
        assert f"--hostname-override={host}" in text
        drop_in = yaml.safe_load(engine.read(host, "/etc/kubernetes/kubelet.conf.d/50-gigafactory.conf"))
        taints = [f"{t['key']}={t['value']}:{t['effect']}" for t in drop_in["registerWithTaints"]]
        # A new node registers with its pool's taints plus, on a GPU pool, the untested taint
        # that only a passed burn-in removes (registered -> burn-in -> admitted).
        assert taints == [t.kubelet() for t in pool.registration_taints], host  # type: ignore[attr-defined]
        version = engine.exec(host, "dpkg-query", "-W", "-f=${Version}", "kubelet").stdout
        assert version == "1.36.4-1.1"


def test_ipoib_interface_has_mode_and_mtu(prepared: tuple[Path, str], engine: Engine) -> None:
    text = engine.read(GPU_HOSTS[0], "/etc/systemd/network/60-gigafactory-ib0.network")
    assert "MTUBytes=4092" in text and "Mode=datagram" in text and "Address=192.0.2.10/24" in text
    assert engine.exec(GPU_HOSTS[0], "dpkg-query", "-W", "-f=${Version}", "doca-ofed").stdout == "3.4.1-1"


def test_nvme_cache_tools_and_mount_point(prepared: tuple[Path, str], engine: Engine) -> None:
    assert engine.exec(GPU_HOSTS[1], "test", "-d", "/var/lib/gigafactory/cache").returncode == 0
    assert engine.exec(GPU_HOSTS[1], "dpkg-query", "-W", "mdadm").returncode == 0


def test_second_run_changes_nothing(prepared: tuple[Path, str]) -> None:
    nodes, _ = prepared
    second = run_playbook("prepare.yml", nodes, extra_vars=CONTAINER_VARS)
    assert second.rc == 0, second.failures()
    assert second.changed() == 0, f"not idempotent: {second.changed_tasks()}"
