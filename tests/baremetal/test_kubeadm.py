"""kubeadm configuration from the model: each worker registers with exactly its pool's labels and
taints (expected values written out by hand), every field is a kubeadm v1beta4 / kubelet v1beta1
field, no secret is ever emitted, and the CLI prints the documents."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest
import yaml

from gigafactory.baremetal.inventory import build
from gigafactory.baremetal.kubeadm import documents, dump, node_labels_arg
from gigafactory.errors import NotFoundError
from gigafactory.site import load_site
from gigafactory.site.model import Site
from tests.baremetal.go_fields import FIELDS_JSON, read_sources
from tests.conftest import REPO

NARVIK = REPO / "sites" / "narvik.yaml"
KIND = REPO / "sites" / "kind.yaml"
VENV_GF = REPO / ".venv" / "bin" / "gigafactory"
ROOT_TYPES = {
    "InitConfiguration": "kubeadm.k8s.io/v1beta4",
    "ClusterConfiguration": "kubeadm.k8s.io/v1beta4",
    "JoinConfiguration": "kubeadm.k8s.io/v1beta4",
    "KubeletConfiguration": "kubelet.config.k8s.io/v1beta1",
}
SECRET_FIELDS = {"token", "caCertHashes", "certificateKey"}


@pytest.fixture(scope="module")
def narvik() -> Site:
    return load_site(NARVIK)


def _fields() -> dict[str, dict[str, dict[str, str]]]:
    data: dict[str, dict[str, dict[str, str]]] = json.loads(FIELDS_JSON.read_text())
    return data


def _unknown_fields(value: Any, gotype: str, types: dict[str, dict[str, str]], path: str) -> list[str]:
    """Paths of every key in ``value`` that its Go type does not have, recursively."""
    if isinstance(value, list):
        return [
            e for i, item in enumerate(value) for e in _unknown_fields(item, gotype, types, f"{path}[{i}]")
        ]
    if not isinstance(value, dict) or gotype not in types:
        return []
    out: list[str] = []
    for key, item in value.items():
        if key not in types[gotype]:
            out.append(f"{path}.{key}")
        else:
            out += _unknown_fields(item, types[gotype][key], types, f"{path}.{key}")
    return out


def _worker_join(site: Site, node: str) -> dict[str, Any]:
    docs = documents(site, site.cluster("c1"), node)
    assert [d["kind"] for d in docs] == ["JoinConfiguration"]
    return docs[0]


def test_gpu_tray_joins_with_exactly_its_pool_labels_and_taint(narvik: Site) -> None:
    reg = _worker_join(narvik, "hall-a-r0042-n07")["nodeRegistration"]
    assert reg["name"] == "hall-a-r0042-n07"
    # the pool's GPU taint, and the untested taint that only a passed burn-in removes
    assert reg["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
        {"key": "gigafactory.io/untested", "value": "true", "effect": "NoSchedule"},
    ]
    assert reg["kubeletExtraArgs"] == [
        {
            "name": "node-labels",
            "value": "gigafactory.io/site=narvik,gigafactory.io/cluster=c1,gigafactory.io/pool=train,"
            "gigafactory.io/role=training,gigafactory.io/sku=gb300-nvl72,gigafactory.io/gpu=true,"
            "gigafactory.io/hall=hall-a,gigafactory.io/su=hall-a-su006,gigafactory.io/rack=hall-a-r0042",
        }
    ]


def test_storage_and_system_servers_join_with_their_own_taints(narvik: Site) -> None:
    storage = _worker_join(narvik, "hall-a-r0245-n01")["nodeRegistration"]
    assert storage["taints"] == [{"key": "gigafactory.io/role", "value": "storage", "effect": "NoSchedule"}]
    assert "gigafactory.io/pool=storage" in storage["kubeletExtraArgs"][0]["value"].split(",")
    # An empty list, not an absent field: kubeadm would otherwise apply its own default.
    assert _worker_join(narvik, "hall-a-r0241-n16")["nodeRegistration"]["taints"] == []


def test_workers_reach_the_api_through_the_endpoint(narvik: Site) -> None:
    join = _worker_join(narvik, "hall-a-r0001-n01")
    # Default endpoint: c1's first control-plane host (top of hall-a's management network).
    assert join["discovery"] == {"bootstrapToken": {"apiServerEndpoint": "10.16.63.254:6443"}}


def test_first_control_plane_gets_init_cluster_and_kubelet_configuration(narvik: Site) -> None:
    init, cluster, kubelet = documents(narvik, narvik.cluster("c1"))
    assert (init["kind"], cluster["kind"], kubelet["kind"]) == (
        "InitConfiguration",
        "ClusterConfiguration",
        "KubeletConfiguration",
    )
    assert init["nodeRegistration"]["name"] == "c1-cp1"
    assert init["localAPIEndpoint"] == {"advertiseAddress": "10.16.63.254", "bindPort": 6443}
    assert cluster["kubernetesVersion"] == "v1.36.4"
    assert cluster["controlPlaneEndpoint"] == "10.16.63.254:6443"
    assert cluster["networking"] == {
        "podSubnet": "10.128.0.0/11",
        "serviceSubnet": "10.96.0.0/16",
        "dnsDomain": "cluster.local",
    }
    assert cluster["etcd"] == {"local": {"dataDir": "/var/lib/etcd"}}
    assert kubelet["failCgroupV1"] is True and kubelet["cgroupDriver"] == "systemd"
    assert documents(narvik, narvik.cluster("c1"), "c1-cp1") == [init, cluster, kubelet]


def test_further_control_planes_join_as_control_planes(narvik: Site) -> None:
    (join,) = documents(narvik, narvik.cluster("c1"), "c1-cp3")
    assert join["controlPlane"] == {
        "localAPIEndpoint": {"advertiseAddress": "10.16.63.252", "bindPort": 6443}
    }
    assert join["nodeRegistration"]["taints"] == [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
    ]


@pytest.mark.parametrize("node", [None, "c1-cp2", "hall-a-r0042-n07", "hall-a-r0245-n16"])
def test_documents_use_only_v1beta4_and_kubelet_v1beta1_fields(narvik: Site, node: str | None) -> None:
    fields = _fields()
    for doc in documents(narvik, narvik.cluster("c1"), node):
        api = ROOT_TYPES[doc["kind"]]
        assert doc["apiVersion"] == api
        assert _unknown_fields(doc, doc["kind"], fields[api], doc["kind"]) == []


def test_field_check_catches_a_misspelled_field() -> None:
    fields = _fields()["kubeadm.k8s.io/v1beta4"]
    doc = {"kind": "JoinConfiguration", "nodeRegistration": {"taint": [], "kubeletExtraArgs": [{"nam": "x"}]}}
    assert _unknown_fields(doc, "JoinConfiguration", fields, "J") == [
        "J.nodeRegistration.taint",
        "J.nodeRegistration.kubeletExtraArgs[0].nam",
    ]


def test_field_table_matches_the_kubernetes_sources() -> None:
    sources = read_sources()
    if sources is None:
        reason = "Kubernetes sources not in the Go module cache (the simulator toolchain fetches them)"
        if os.environ.get("CI"):
            pytest.fail(f"CI builds the toolchain first: {reason}")
        pytest.skip(reason)
    assert sources == _fields(), "api_fields.json is stale: python -m tests.baremetal.go_fields"


def test_no_secret_is_ever_in_the_documents(narvik: Site) -> None:
    def keys(value: Any) -> set[str]:
        if isinstance(value, dict):
            return set(value) | {k for v in value.values() for k in keys(v)}
        if isinstance(value, list):
            return {k for v in value for k in keys(v)}
        return set()

    for node in (None, "c1-cp2", "hall-a-r0001-n01"):
        assert not keys(documents(narvik, narvik.cluster("c1"), node)) & SECRET_FIELDS, node


def test_inventory_and_kubeadm_give_a_node_the_same_labels(narvik: Site) -> None:
    hv = build(narvik, "c1").merged_hostvars()["hall-a-r0042-n07"]
    reg = _worker_join(narvik, "hall-a-r0042-n07")["nodeRegistration"]
    assert hv["gigafactory_kubelet_node_labels"] == reg["kubeletExtraArgs"][0]["value"]
    assert node_labels_arg(hv["gigafactory_node_labels"]) == hv["gigafactory_kubelet_node_labels"]


@pytest.mark.parametrize("node", ["nope", "hall-a-r0042-n19", "hall-a-r0233-n01", "hall-b-r0001-n01"])
def test_unknown_node_names_the_allowed_ones(narvik: Site, node: str) -> None:
    with pytest.raises(
        NotFoundError, match=r"allowed: c1-cp1, c1-cp2, c1-cp3, hall-a-r0001-n01\.\.hall-a-r0232-n18"
    ):
        documents(narvik, narvik.cluster("c1"), node)


def test_cli_prints_the_documents_and_refuses_unknown_nodes() -> None:
    proc = subprocess.run(
        [str(VENV_GF), "kubeadm-config", str(KIND), "--cluster", "dev", "--node", "lab-r0002-n02"],
        capture_output=True,
        text=True,
        check=True,
    )
    (join,) = list(yaml.safe_load_all(proc.stdout))
    assert join["nodeRegistration"]["taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
        {"key": "gigafactory.io/untested", "value": "true", "effect": "NoSchedule"},
    ]
    assert proc.stdout == dump(documents(load_site(KIND), load_site(KIND).cluster("dev"), "lab-r0002-n02"))
    init = subprocess.run(
        [str(VENV_GF), "kubeadm-config", str(KIND), "-c", "dev", "--allow-cgroup-v1"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert next(d["kind"] for d in yaml.safe_load_all(init.stdout)) == "InitConfiguration"
    assert "failCgroupV1: false" in init.stdout
    bad = subprocess.run(
        [str(VENV_GF), "kubeadm-config", str(KIND), "-c", "dev", "--node", "nope"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "no node 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def test_init_token_lives_fifteen_minutes_not_kubeadms_day(narvik: Site) -> None:
    """kubeadm init makes a bootstrap token valid 24 h by default; joins make their own, so the
    init's is cut to 15 minutes, and it carries no token value (kubeadm generates it)."""
    init = next(d for d in documents(narvik, narvik.cluster("c1"), None) if d["kind"] == "InitConfiguration")
    assert [set(t) for t in init["bootstrapTokens"]] == [{"ttl", "description"}]
    assert init["bootstrapTokens"][0]["ttl"] == "15m0s"  # 15 x 60 s = 900 s, against 24 x 3600 s
