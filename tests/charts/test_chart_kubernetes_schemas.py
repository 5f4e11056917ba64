"""Every object the charts render is valid Kubernetes 1.36 (strict: no unknown fields).

Custom resources (Kueue LocalQueue) are not in the bundled schemas; they are checked
structurally against the Kueue 0.19 v1beta2 API instead.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from tests.charts.rendering import Manifest, Render

# The Kubernetes target of the project (reference/VERSIONS.md).
KUBERNETES_VERSION = "1.36"
RENDERS = [
    ("gpu-burnin", "gpu-burnin-rack.yaml"),
    ("gpu-burnin", "gpu-burnin-multinode.yaml"),
    ("gpu-burnin", "gpu-burnin-su.yaml"),
    ("tenant", "tenant-alpha.yaml"),
    ("tenant", "tenant-minimal.yaml"),
]
CUSTOM_RESOURCE_GROUPS = ("kueue.x-k8s.io/", "resource.nvidia.com/")
# ComputeDomainSpec fields of resource.nvidia.com/v1beta1 (NVIDIA DRA driver for GPUs).
COMPUTE_DOMAIN_SPEC_FIELDS = {"numNodes", "channel"}
# LocalQueueSpec fields of kueue.x-k8s.io/v1beta2 (Kueue 0.19).
LOCAL_QUEUE_SPEC_FIELDS = {"clusterQueue", "stopPolicy", "fairSharing"}


def check_local_queue(obj: Manifest) -> list[str]:
    """Structural errors of a Kueue LocalQueue (empty when it is well formed)."""
    errors: list[str] = []
    if obj.get("apiVersion") != "kueue.x-k8s.io/v1beta2":
        errors.append(f"apiVersion {obj.get('apiVersion')!r} is not kueue.x-k8s.io/v1beta2")
    metadata: dict[str, Any] = obj.get("metadata") or {}
    if not metadata.get("name") or not metadata.get("namespace"):
        errors.append("a LocalQueue needs metadata.name and metadata.namespace")
    spec: dict[str, Any] = obj.get("spec") or {}
    unknown = set(spec) - LOCAL_QUEUE_SPEC_FIELDS
    if unknown:
        errors.append(f"unknown spec fields {sorted(unknown)}")
    if not isinstance(spec.get("clusterQueue"), str) or not spec["clusterQueue"]:
        errors.append("spec.clusterQueue must name a ClusterQueue")
    return errors


def check_compute_domain(obj: Manifest) -> list[str]:
    """Structural errors of an NVIDIA ComputeDomain (empty when it is well formed)."""
    errors: list[str] = []
    if obj.get("apiVersion") != "resource.nvidia.com/v1beta1":
        errors.append(f"apiVersion {obj.get('apiVersion')!r} is not resource.nvidia.com/v1beta1")
    spec: dict[str, Any] = obj.get("spec") or {}
    unknown = set(spec) - COMPUTE_DOMAIN_SPEC_FIELDS
    if unknown:
        errors.append(f"unknown spec fields {sorted(unknown)}")
    if not isinstance(spec.get("numNodes"), int) or spec["numNodes"] < 0:
        errors.append("spec.numNodes must be a non-negative integer")
    channel: dict[str, Any] = spec.get("channel") or {}
    name = (channel.get("resourceClaimTemplate") or {}).get("name")
    if not isinstance(name, str) or not name:
        errors.append("spec.channel.resourceClaimTemplate.name must name the claim template")
    return errors


def validate(obj: Manifest) -> list[str]:
    """Validation errors of one rendered object."""
    if obj["apiVersion"].startswith(CUSTOM_RESOURCE_GROUPS):
        if obj["kind"] == "LocalQueue":
            return check_local_queue(obj)
        if obj["kind"] == "ComputeDomain":
            return check_compute_domain(obj)
        return [f"no check for custom resource {obj['apiVersion']} {obj['kind']}"]
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(str(p) for p in exc.path)}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [str(exc.message)]
    return []


@pytest.mark.parametrize(("chart", "fixture"), RENDERS)
def test_every_rendered_object_is_valid_kubernetes(render: Render, chart: str, fixture: str) -> None:
    docs = render(chart, [fixture])
    assert docs, f"{chart} with {fixture} rendered nothing"
    failures = {f"{d['kind']}/{d['metadata']['name']}": errs for d in docs if (errs := validate(d))}
    assert not failures, f"{chart} with {fixture}: {failures}"


def test_validator_catches_an_unknown_field() -> None:
    bad = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x"},
        "data": {},
        "dta": {},
    }
    assert validate(bad)


def test_local_queue_check_catches_a_missing_cluster_queue() -> None:
    bad = {
        "apiVersion": "kueue.x-k8s.io/v1beta2",
        "kind": "LocalQueue",
        "metadata": {"name": "q", "namespace": "t"},
        "spec": {"clusterQueue": ""},
    }
    assert check_local_queue(bad) == ["spec.clusterQueue must name a ClusterQueue"]
