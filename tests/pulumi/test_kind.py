"""kind-config: nodes carry the model's pool labels and taints; the node image is pinned."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from gigafactory.errors import StackConfigError
from gigafactory.site import load_site
from gigafactory.stack.kind import KIND_NODE_IMAGE, kind_config
from tests.conftest import KIND, NARVIK, REPO


def test_one_kind_node_per_model_node() -> None:
    site = load_site(KIND)
    config = kind_config(site, site.cluster("dev"))
    roles = [n["role"] for n in config["nodes"]]
    # 1 control plane + system pool (1 node) + gpu pool (2 nodes).
    assert roles == ["control-plane", "worker", "worker", "worker"]
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"


def test_worker_labels_and_taints_come_from_the_pool() -> None:
    site = load_site(KIND)
    cluster = site.cluster("dev")
    workers = [n for n in kind_config(site, cluster)["nodes"] if n["role"] == "worker"]
    gpu = cluster.pool("gpu")
    assert workers[1]["labels"] == gpu.node_labels(0)
    assert workers[2]["labels"]["gigafactory.io/pool"] == "gpu"
    patch = yaml.safe_load(workers[1]["kubeadmConfigPatches"][0])
    assert patch["kind"] == "JoinConfiguration"
    assert patch["nodeRegistration"]["taints"] == [t.as_dict() for t in gpu.taints]
    assert "kubeadmConfigPatches" not in workers[0], "the system pool is untainted"


def test_node_image_is_pinned_by_digest() -> None:
    assert KIND_NODE_IMAGE.startswith("kindest/node:v1.36.4@sha256:")
    site = load_site(KIND)
    assert {n["image"] for n in kind_config(site, site.cluster("dev"))["nodes"]} == {KIND_NODE_IMAGE}


def test_bare_metal_cluster_is_refused() -> None:
    site = load_site(NARVIK)
    with pytest.raises(StackConfigError, match="platform: kind"):
        kind_config(site, site.cluster("c1"))


def test_cli_prints_kind_config() -> None:
    code = "from gigafactory.cli import main; main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "kind-config", "--stack", "kind"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    config = yaml.safe_load(proc.stdout)
    assert config["name"] == "gigafactory"  # context kind-gigafactory in stacks/Pulumi.kind.yaml
    assert len(config["nodes"]) == 4
