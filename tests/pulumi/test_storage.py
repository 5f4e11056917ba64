"""Storage: a default local class per platform; local NVMe plus NFS on bare metal."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.pulumi.conftest import kind_of, releases, rendered

DEFAULT = "storageclass.kubernetes.io/is-default-class"


def _classes(stack: str) -> dict[str, dict[str, Any]]:
    return {r["inputs"]["metadata"]["name"]: r["inputs"] for r in kind_of(rendered(stack), "StorageClass")}


def _defaults(classes: dict[str, dict[str, Any]]) -> list[str]:
    return [n for n, c in classes.items() if c["metadata"].get("annotations", {}).get(DEFAULT) == "true"]


@pytest.mark.parametrize(
    ("stack", "provisioner"), [("kind", "rancher.io/local-path"), ("minikube", "k8s.io/minikube-hostpath")]
)
def test_laptop_default_class_is_local(stack: str, provisioner: str) -> None:
    classes = _classes(stack)
    assert _defaults(classes) == ["local-path"]
    assert classes["local-path"]["provisioner"] == provisioner


def test_bare_metal_has_local_nvme_default_and_shared_nfs() -> None:
    classes = _classes("narvik-c2")
    assert _defaults(classes) == ["local-nvme"]
    assert classes["local-nvme"]["volumeBindingMode"] == "WaitForFirstConsumer"
    nfs = classes["shared-nfs"]
    assert nfs["provisioner"] == "nfs.csi.k8s.io"
    # From stacks/Pulumi.narvik-c2.yaml: hall-b's NFS service.
    assert nfs["parameters"] == {"server": "nfs.hall-b.narvik.internal", "share": "/export/gigafactory"}
    assert "csi-driver-nfs" in releases(rendered("narvik-c2"))


def test_nvme_class_path_is_served_by_the_provisioner() -> None:
    """local-path-provisioner only honours a class's nodePath listed in its nodePathMap."""
    result = rendered("narvik-c1")
    nvme = _classes("narvik-c1")["local-nvme"]
    (config_map,) = [
        r
        for r in kind_of(result, "ConfigMap")
        if r["inputs"]["metadata"]["namespace"] == "local-path-storage"
    ]
    config = json.loads(config_map["inputs"]["data"]["config.json"])
    paths = [p for entry in config["nodePathMap"] for p in entry["paths"]]
    assert nvme["parameters"]["nodePath"] in paths
    # The NVMe cache the playbooks mount (nvme_cache_mount).
    assert nvme["parameters"]["nodePath"].startswith("/var/lib/gigafactory/cache/")
