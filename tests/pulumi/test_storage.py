"""Storage: a default local class per platform; local NVMe plus NFS on bare metal."""

from __future__ import annotations

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
