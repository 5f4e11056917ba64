"""Each resource policy of the pack, called through `validate`: passing, failing and unknown cases."""

from __future__ import annotations

from typing import Any

import pytest

from tests.policy.harness import (
    CHART_V4,
    DAEMONSET,
    DEPLOYMENT,
    FLAVOR,
    JOB,
    NARVIK_C1,
    RELEASE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    no_context,
    policy,
    validate_resource,
)


def _pod(
    *containers: dict[str, Any], tolerations: list[Any] | None = None, ns: str = "team"
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": list(containers)}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {"metadata": {"name": "w", "namespace": ns}, "spec": {"template": {"spec": spec}}}


def _fails_closed(messages: list[str]) -> bool:
    return bool(messages) and all("unknown at preview" in m and "fails closed" in m for m in messages)


# --- helm-chart-version-pinned --------------------------------------------------------------


@pytest.mark.parametrize(
    "props",
    [
        {
            "chart": "gpu-operator",
            "version": "v26.7.0",
            "repositoryOpts": {"repo": "https://helm.ngc.nvidia.com/nvidia"},
        },
        {"chart": "oci://registry.k8s.io/kueue/charts/kueue", "version": "0.19.2"},
        {"chart": "./charts/tenant", "values": {}},  # this repository's chart: pinned by the commit
    ],
)
def test_pinned_chart_passes(props: dict[str, Any]) -> None:
    assert validate_resource(policy("helm-chart-version-pinned"), RELEASE, props) == []


@pytest.mark.parametrize(
    ("props", "why"),
    [
        (
            {"chart": "gpu-operator", "repositoryOpts": {"repo": "https://helm.ngc.nvidia.com/nvidia"}},
            "has no version",
        ),
        ({"chart": "oci://registry.k8s.io/kueue/charts/kueue", "version": ""}, "has no version"),
        ({"chart": "cilium", "version": "^1.20.0"}, "not an exact version"),
        ({"chart": "cilium", "version": "1.20.x"}, "not an exact version"),
    ],
)
def test_unpinned_chart_fails(props: dict[str, Any], why: str) -> None:
    (msg,) = validate_resource(policy("helm-chart-version-pinned"), RELEASE, props)
    assert why in msg


def test_helm_v4_chart_is_checked_too() -> None:
    assert validate_resource(policy("helm-chart-version-pinned"), CHART_V4, {"chart": "oci://x/y/kueue"})


def test_chart_version_unknown_at_preview_fails_closed() -> None:
    props = {"chart": "gpu-operator", "version": UNKNOWN_STRING_VALUE}
    assert _fails_closed(validate_resource(policy("helm-chart-version-pinned"), RELEASE, props))


def test_local_charts_can_be_required_to_pin_by_config() -> None:
    pol = policy("helm-chart-version-pinned")
    assert validate_resource(pol, RELEASE, {"chart": "./charts/tenant"}, config={"allow_local_charts": False})


# --- image-tag-pinned -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "props"),
    [
        (DAEMONSET, _pod({"name": "a", "image": "nvcr.io/nvidia/k8s/dcgm-exporter:4.6.0-1-ubuntu24.04"})),
        (DAEMONSET, _pod({"name": "a", "image": "registry.local:5000/tools/nccl@sha256:" + "0" * 64})),
        (
            RELEASE,
            {
                "chart": "c",
                "version": "1.0.0",
                "values": {"image": {"repository": "quay.io/x", "tag": "v1.2.3"}},
            },
        ),
        # gpu-operator style: repository + image + version; a split reference without a tag takes
        # the chart's appVersion, which the chart version pins.
        (
            RELEASE,
            {
                "chart": "c",
                "version": "1.0.0",
                "values": {
                    "driver": {"repository": "nvcr.io/nvidia", "image": "driver", "version": "580.173.02"}
                },
            },
        ),
        (
            RELEASE,
            {
                "chart": "c",
                "version": "1.0.0",
                "values": {"operator": {"repository": "nvcr.io/nvidia", "image": "gpu-operator"}},
            },
        ),
    ],
)
def test_pinned_images_pass(type_: str, props: dict[str, Any]) -> None:
    assert validate_resource(policy("image-tag-pinned"), type_, props) == []


@pytest.mark.parametrize(
    ("type_", "props", "why"),
    [
        (DEPLOYMENT, _pod({"name": "a", "image": "busybox"}), "has no tag"),
        # the port of a registry is not a tag
        (DEPLOYMENT, _pod({"name": "a", "image": "registry.local:5000/busybox"}), "has no tag"),
        (JOB, _pod({"name": "a", "image": "nvcr.io/nvidia/pytorch:latest"}), "uses tag 'latest'"),
        (
            RELEASE,
            {
                "chart": "c",
                "version": "1.0.0",
                "values": {"image": {"repository": "quay.io/x", "tag": "latest"}},
            },
            "uses tag 'latest'",
        ),
        (
            RELEASE,
            {
                "chart": "c",
                "version": "1.0.0",
                "values": {
                    "driver": {"repository": "nvcr.io/nvidia", "image": "driver", "version": "latest"}
                },
            },
            "uses tag 'latest'",
        ),
        (
            RELEASE,
            {"chart": "c", "version": "1.0.0", "values": {"sidecar": {"image": "busybox"}}},
            "has no tag",
        ),
    ],
)
def test_unpinned_images_fail(type_: str, props: dict[str, Any], why: str) -> None:
    (msg,) = validate_resource(policy("image-tag-pinned"), type_, props)
    assert why in msg


def test_forbidden_tags_come_from_config() -> None:
    props = _pod({"name": "a", "image": "nginx:edge"})
    pol = policy("image-tag-pinned")
    assert validate_resource(pol, DEPLOYMENT, props) == []
    assert validate_resource(pol, DEPLOYMENT, props, config={"forbidden_tags": ["latest", "edge"]})


@pytest.mark.parametrize(
    "props",
    [
        _pod({"name": "a", "image": UNKNOWN_STRING_VALUE}),
        {"chart": "c", "version": "1.0.0", "values": UNKNOWN_OBJECT_VALUE},
        {
            "chart": "c",
            "version": "1.0.0",
            "values": {"image": {"repository": "quay.io/x", "tag": UNKNOWN_STRING_VALUE}},
        },
    ],
)
def test_image_unknown_at_preview_fails_closed(props: dict[str, Any]) -> None:
    type_ = RELEASE if "chart" in props else DEPLOYMENT
    assert _fails_closed(validate_resource(policy("image-tag-pinned"), type_, props))


def test_unknown_value_elsewhere_does_not_block_the_image_policy() -> None:
    props = _pod({"name": "a", "image": "nginx:1.29.0", "args": [UNKNOWN_STRING_VALUE]})
    assert validate_resource(policy("image-tag-pinned"), DEPLOYMENT, props) == []


# --- gpu-taint-toleration-restricted ----------------------------------------------------------

GPU_TOL = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}


@pytest.mark.parametrize(
    ("type_", "props"),
    [
        (
            RELEASE,
            {
                "chart": "gpu-operator",
                "version": "v26.7.0",
                "values": {"daemonsets": {"tolerations": [GPU_TOL]}},
            },
        ),
        (
            RELEASE,
            {
                "chart": "oci://registry.k8s.io/dra-driver-nvidia/charts/dra-driver-nvidia-gpu",
                "version": "0.5.0",
                "values": {"kubeletPlugin": {"tolerations": [GPU_TOL]}},
            },
        ),
        (DAEMONSET, _pod({"name": "a", "image": "x:1"}, tolerations=[GPU_TOL], ns="gpu-operator")),
        (
            DEPLOYMENT,
            _pod(
                {"name": "a", "image": "x:1"},
                tolerations=[{"key": "gigafactory.io/role", "operator": "Exists"}],
            ),
        ),
        # the node exporter is allow-listed as one part of its chart: it monitors every node
        (
            RELEASE,
            {
                "chart": "oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack",
                "version": "88.5.3",
                "values": {"prometheus-node-exporter": {"tolerations": [{"operator": "Exists"}]}},
            },
        ),
        # Kueue flavors carry the GPU taint and toleration by design: they are not workloads.
        (
            FLAVOR,
            {"metadata": {"name": "c1-train"}, "spec": {"nodeTaints": [GPU_TOL], "tolerations": [GPU_TOL]}},
        ),
    ],
)
def test_allowed_gpu_tolerations_pass(type_: str, props: dict[str, Any]) -> None:
    assert validate_resource(policy("gpu-taint-toleration-restricted"), type_, props) == []


@pytest.mark.parametrize(
    ("type_", "props"),
    [
        (DEPLOYMENT, _pod({"name": "a", "image": "x:1"}, tolerations=[GPU_TOL])),
        # no key and operator Exists tolerates every taint, the GPU taint included
        (DAEMONSET, _pod({"name": "a", "image": "x:1"}, tolerations=[{"operator": "Exists"}], ns="logging")),
        (
            RELEASE,
            {
                "chart": "oci://ghcr.io/prometheus-community/charts/kube-prometheus-stack",
                "version": "88.5.3",
                "values": {"grafana": {"tolerations": [{"operator": "Exists"}]}},
            },
        ),
    ],
)
def test_other_gpu_tolerations_fail(type_: str, props: dict[str, Any]) -> None:
    (msg,) = validate_resource(policy("gpu-taint-toleration-restricted"), type_, props)
    assert "tolerates the GPU pool taint nvidia.com/gpu" in msg


def test_toleration_key_unknown_at_preview_fails_closed() -> None:
    props = _pod(
        {"name": "a", "image": "x:1"}, tolerations=[{"key": UNKNOWN_STRING_VALUE, "operator": "Exists"}]
    )
    assert _fails_closed(validate_resource(policy("gpu-taint-toleration-restricted"), DEPLOYMENT, props))


# --- simulated-gpu-no-driver ------------------------------------------------------------------

OPERATOR = {
    "chart": "gpu-operator",
    "version": "v26.7.0",
    "repositoryOpts": {"repo": "https://helm.ngc.nvidia.com/nvidia"},
}


@pytest.mark.parametrize(
    "props",
    [
        {**OPERATOR, "values": {"driver": {"enabled": False}, "toolkit": {"enabled": False}}},
        {
            "chart": "oci://ghcr.io/run-ai/fake-gpu-operator/fake-gpu-operator",
            "version": "0.2.0",
            "values": {},
        },
    ],
)
def test_kind_without_driver_passes(props: dict[str, Any]) -> None:
    assert validate_resource(policy("simulated-gpu-no-driver"), RELEASE, props) == []


def test_kind_with_operator_defaults_fails_for_driver_and_toolkit() -> None:
    msgs = validate_resource(policy("simulated-gpu-no-driver"), RELEASE, {**OPERATOR, "values": {}})
    assert len(msgs) == 2
    assert "installs the GPU driver on a kind stack" in msgs[0]
    assert "installs the GPU toolkit on a kind stack" in msgs[1]


def test_kind_with_driver_daemonset_fails() -> None:
    props = _pod({"name": "d", "image": "nvcr.io/nvidia/driver:580.173.02-ubuntu24.04"}, ns="kube-system")
    (msg,) = validate_resource(policy("simulated-gpu-no-driver"), DAEMONSET, props)
    assert "installs a GPU driver or toolkit on a kind stack" in msg


def test_bare_metal_may_install_the_driver() -> None:
    props = {**OPERATOR, "values": {"driver": {"enabled": True}}}
    assert validate_resource(policy("simulated-gpu-no-driver", NARVIK_C1), RELEASE, props) == []


def test_driver_flag_unknown_at_preview_fails_closed() -> None:
    props = {
        **OPERATOR,
        "values": {"driver": {"enabled": UNKNOWN_BOOLEAN_VALUE}, "toolkit": {"enabled": False}},
    }
    assert _fails_closed(validate_resource(policy("simulated-gpu-no-driver"), RELEASE, props))


def test_without_the_stack_site_model_the_policy_fails_closed() -> None:
    props = {**OPERATOR, "values": {"driver": {"enabled": False}, "toolkit": {"enabled": False}}}
    (msg,) = validate_resource(policy("simulated-gpu-no-driver", no_context), RELEASE, props)
    assert "cannot load the stack's site model" in msg and "fails closed" in msg
