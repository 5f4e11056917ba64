"""Every place that names the Kubernetes version agrees (production clusters, kind, host
packages, chart images, schema validation); the simulator's toolchain is on the same minor."""

from __future__ import annotations

import re

import yaml

from gigafactory.site.kubernetes import KUBERNETES_VERSION as KUBEADM_DEFAULT_VERSION
from gigafactory.stack.kind import KIND_NODE_IMAGE
from gigafactory.stack.render import KUBERNETES_VERSION
from tests.conftest import REPO


def _places() -> dict[str, str]:
    versions_yml = yaml.safe_load((REPO / "playbooks/project/group_vars/all/versions.yml").read_text())
    burnin = yaml.safe_load((REPO / "charts/gpu-burnin/values.yaml").read_text())
    kubectl_tags = [
        v["tag"] for v in _walk(burnin) if isinstance(v, dict) and "kubectl" in str(v.get("repository", ""))
    ]
    match = re.match(r"kindest/node:v([0-9.]+)@", KIND_NODE_IMAGE)
    assert match is not None
    return {
        "schema validation (gigafactory/stack/render.py)": KUBERNETES_VERSION,
        "kind node image (gigafactory/stack/kind.py)": match.group(1),
        "kubeadm default (gigafactory/site/kubernetes.py)": KUBEADM_DEFAULT_VERSION,
        "kubelet/kubeadm packages (playbooks group_vars versions.yml)": str(versions_yml["kubelet_version"]),
        **{f"burn-in kubectl image #{i}": t.removeprefix("v") for i, t in enumerate(kubectl_tags)},
    }


def _walk(value: object) -> list[object]:
    out: list[object] = [value]
    if isinstance(value, dict):
        for v in value.values():
            out += _walk(v)
    elif isinstance(value, list):
        for v in value:
            out += _walk(v)
    return out


def _toolchain_pins() -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in (REPO / "toolchain/versions.env").read_text().splitlines()
        if line and not line.startswith("#") and "=" in line
    )


def test_every_place_names_the_same_kubernetes_version() -> None:
    places = _places()
    assert len(places) >= 4, places
    assert len(set(places.values())) == 1, f"Kubernetes versions disagree: {places}"


def test_the_simulator_runs_the_same_minor() -> None:
    """The simulator's control plane is built from Go modules (toolchain/versions.env): the
    module proxy serves v1.36.3, not v1.36.4, so only the minor can agree there."""
    pins = _toolchain_pins()
    minor = ".".join(KUBERNETES_VERSION.split(".")[:2])
    assert pins["KUBERNETES_VERSION"].removeprefix("v").startswith(minor + "."), pins["KUBERNETES_VERSION"]


def test_the_test_nodes_run_the_sites_containerd() -> None:
    """The kubeadm test nodes' containerd (toolchain/versions.env) is the release the site pins
    for its nodes (versions.yml), not merely the same major."""
    pins = _toolchain_pins()
    versions_yml = yaml.safe_load((REPO / "playbooks/project/group_vars/all/versions.yml").read_text())
    assert pins["CONTAINERD_VERSION"].removeprefix("v") == str(
        versions_yml["container_runtime_containerd_version"]
    )
