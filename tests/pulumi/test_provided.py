"""Parts of the platform the environment provides (``gigafactory:provided``): the stack skips
them and the objects only their charts' CRDs make possible, and still makes the objects that
need only CRDs the environment brings (Kueue's, on the simulator)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gigafactory.errors import StackConfigError
from gigafactory.stack.config import PROVIDABLE_PARTS, load_stack_config
from gigafactory.stack.render import render_stack
from tests.conftest import REPO
from tests.pulumi.conftest import kind_of, make_project, releases, rendered

KUEUE_KINDS = ("ResourceFlavor", "Topology", "ClusterQueue")


def test_sim_stack_provides_cni_kueue_gpu_and_observability() -> None:
    config = load_stack_config("sim")
    assert config.provided == ("cni", "observability", "kueue", "gpu")
    assert rendered("sim").outputs["provided"] == ["cni", "gpu", "kueue", "observability"]


def test_sim_stack_installs_no_chart_from_the_internet() -> None:
    charts = {name: r["inputs"]["chart"] for name, r in releases(rendered("sim")).items()}
    assert charts == {"tenant-demo": "./charts/tenant"}, f"releases beyond the local tenant chart: {charts}"
    assert rendered("sim").outputs["installed"] == {"tenant": "0.2.0"}


def test_sim_stack_makes_no_object_of_a_provided_chart_crd() -> None:
    for kind in ("PrometheusRule", "ServiceMonitor", "NicClusterPolicy"):
        assert kind_of(rendered("sim"), kind) == [], f"sim: a {kind} needs a CRD nobody installs"


def test_kueue_objects_stay_when_kueue_is_provided_and_wait_for_no_release() -> None:
    result = rendered("sim")
    release_urns = {r["urn"] for r in releases(result).values()}
    for kind in KUEUE_KINDS:
        objects = kind_of(result, kind)
        assert objects, f"sim: no {kind}: the Kueue objects are the stack's even when Kueue is provided"
        for obj in objects:
            assert not release_urns & set(obj["depends_on"]), f"sim: {obj['name']} waits for a release"
    names = {r["inputs"]["metadata"]["name"] for r in kind_of(result, "ClusterQueue")}
    assert names == {"dev-gpu", "tenant-demo"}


def test_sim_stack_keeps_priority_classes_storage_class_and_tenant() -> None:
    result = rendered("sim")
    assert len(kind_of(result, "PriorityClass")) == 3
    (storage_class,) = kind_of(result, "StorageClass")
    assert storage_class["inputs"]["provisioner"] == "kubernetes.io/no-provisioner"
    (namespace,) = kind_of(result, "Namespace")
    assert namespace["inputs"]["metadata"]["name"] == "gigafactory-tenants"
    tenant = releases(result)["tenant-demo"]
    assert namespace["urn"] in tenant["depends_on"], "the release namespace outlives the release on destroy"
    assert tenant["inputs"]["createNamespace"] is False, "a namespace Helm creates is never deleted"


def test_the_same_cluster_installs_every_part_when_nothing_is_provided() -> None:
    charts = set(releases(rendered("kind")))
    assert {"kueue", "kube-prometheus-stack", "gpu-operator"} <= charts, charts


def test_unknown_provided_part_names_the_allowed_ones(tmp_path: Path) -> None:
    root = make_project(
        tmp_path,
        "bad",
        {
            "gigafactory:site": "sites/kind.yaml",
            "gigafactory:cluster": "dev",
            "gigafactory:provided": ["dns"],
        },
    )
    with pytest.raises(StackConfigError, match=r"gigafactory:provided: 'dns' is not allowed; allowed: cni,"):
        load_stack_config("bad", root)


@pytest.mark.parametrize("part", PROVIDABLE_PARTS)
def test_each_part_can_be_provided_on_bare_metal(tmp_path: Path, part: str) -> None:
    """Every part leaves the narvik-c1 stack renderable, without the chart it names."""
    root = make_project(
        tmp_path,
        "c1",
        {
            "gigafactory:site": str(REPO / "sites/narvik.yaml"),
            "gigafactory:cluster": "c1",
            "gigafactory:provided": [part],
        },
    )
    result = render_stack("c1", root=root)
    chart = {
        "cni": "cilium",
        "observability": "kube-prometheus-stack",
        "kueue": "kueue",
        "gpu": "gpu-operator",
        "network-operator": "network-operator",
        "storage": "csi-driver-nfs",
    }[part]
    assert chart not in releases(result), f"{part} provided, yet {chart} installed"
    assert result.outputs["provided"] == [part]
