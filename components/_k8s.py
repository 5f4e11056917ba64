"""Small constructors shared by the components: a pinned Helm release, a custom resource.

Not a component itself: each function creates one resource with ``parent`` set, so the
calling component stays the parent of everything it builds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.helm.v3 import Release, ReleaseArgs, RepositoryOptsArgs

from components.versions import ChartPin

# Labels every object the program creates carries, so `kubectl get -l` finds them.
MANAGED_BY = {"app.kubernetes.io/managed-by": "gigafactory"}


def meta(name: str, namespace: str | None = None, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Object metadata with an explicit name (no auto-naming: manifests stay reviewable)."""
    out: dict[str, Any] = {"name": name, "labels": {**MANAGED_BY, **(labels or {})}}
    if namespace is not None:
        out["namespace"] = namespace
    return out


def object_meta(
    name: str,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> k8s.meta.v1.ObjectMetaArgs:
    """Typed metadata for the pulumi-kubernetes object classes (same content as ``meta``)."""
    return k8s.meta.v1.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels={**MANAGED_BY, **(labels or {})},
        annotations=dict(annotations) if annotations else None,
    )


def release(
    name: str,
    parent: pulumi.Resource,
    *,
    pin: ChartPin,
    namespace: str,
    values: Mapping[str, Any],
    release_name: str | None = None,
    depends_on: Sequence[pulumi.Resource] = (),
    create_namespace: bool = True,
) -> Release:
    """One Helm release of a pinned chart (``pin``: chart, repository, version; a ``repo`` of
    None means a local chart path);
    ``release_name`` (the Helm release name) defaults to the chart name. ``create_namespace``
    False when the stack declares the namespace itself (Helm never deletes one it created).

    OCI charts are given as ``oci://registry/path/chart`` with no repository options,
    classic repositories as chart name plus ``repositoryOpts.repo``.
    """
    chart, repo, version = pin.chart, pin.repo, pin.version
    if repo is not None and repo.startswith("oci://"):
        chart_ref, repo_opts = f"{repo}/{chart}", None
    else:
        chart_ref, repo_opts = chart, (RepositoryOptsArgs(repo=repo) if repo else None)
    return Release(
        name,
        ReleaseArgs(
            name=release_name or chart,
            chart=chart_ref,
            version=version,
            repository_opts=repo_opts,
            namespace=namespace,
            create_namespace=create_namespace,
            values=dict(values),
            # Wait for the chart's workloads, so objects that depend on the release see
            # its CRDs and webhooks ready.
            skip_await=False,
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )


def custom(
    name: str,
    parent: pulumi.Resource,
    *,
    api_version: str,
    kind: str,
    metadata: Mapping[str, Any],
    spec: Mapping[str, Any],
    crd_release: pulumi.Resource | Sequence[pulumi.Resource],
) -> k8s.apiextensions.CustomResource:
    """A custom resource that waits for the release installing its CRD (``crd_release``),
    so a first `pulumi up` on an empty cluster succeeds in one pass."""
    deps = list(crd_release) if isinstance(crd_release, Sequence) else [crd_release]
    return k8s.apiextensions.CustomResource(
        name,
        api_version=api_version,
        kind=kind,
        metadata=dict(metadata),
        spec=dict(spec),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=deps),
    )
