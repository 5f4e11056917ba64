"""The whole program: every stack renders and validates, every chart is pinned, custom
resources wait for their CRDs, and a stack's size does not grow with node count."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import versions
from gigafactory.errors import SiteFileError, StackConfigError
from gigafactory.stack.config import stacks
from gigafactory.stack.render import RenderResult, render_stack, validate_objects
from tests.conftest import NARVIK, REPO, site_data
from tests.pulumi.conftest import (
    ALL_STACKS,
    INSTALLING_STACKS,
    NARVIK_STACKS,
    RELEASE,
    make_project,
    releases,
    rendered,
)

# API group of each custom resource -> the chart whose release installs its CRD.
CRD_CHART = {
    "kueue.x-k8s.io": versions.KUEUE.chart,
    "monitoring.coreos.com": versions.PROMETHEUS_STACK.chart,
    "mellanox.com": versions.NETWORK_OPERATOR.chart,
    "nv-ipam.nvidia.com": versions.NETWORK_OPERATOR.chart,
}
PINS = {v for v in vars(versions).values() if isinstance(v, versions.ChartPin)}
PINNED = {p.version for p in PINS} | {versions.TENANT_CHART_VERSION}
# A bare-metal stack: 10 components, ~8 releases and a few objects per pool and tenant.
MAX_RESOURCES_PER_STACK = 60


def test_every_stack_file_is_tested() -> None:
    assert stacks() == sorted(ALL_STACKS)


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_stack_renders_and_validates(stack: str) -> None:
    result = rendered(stack)  # render_stack raises on any schema error
    assert result.resources, stack
    assert validate_objects(result.resources) == []
    assert len(result.resources) <= MAX_RESOURCES_PER_STACK, f"{stack}: {len(result.resources)} resources"


def test_schema_errors_are_caught() -> None:
    broken: dict[str, Any] = {
        "urn": "urn:x",
        "type": "kubernetes:storage.k8s.io/v1:StorageClass",
        "name": "broken",
        "parent": None,
        "depends_on": [],
        "inputs": {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "x"}},
    }
    (error,) = validate_objects([broken])
    assert "StorageClass/x" in error and "provisioner" in error


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_every_chart_is_version_pinned(stack: str) -> None:
    for name, release in releases(rendered(stack)).items():
        version = release["inputs"].get("version")
        assert version in PINNED, f"{stack}: release {name} has version {version!r}, not a versions.py pin"


@pytest.mark.parametrize("stack", INSTALLING_STACKS)
def test_custom_resources_depend_on_the_release_installing_their_crd(stack: str) -> None:
    result = rendered(stack)
    release_urns = {
        r["inputs"]["chart"].rsplit("/", 1)[-1]: r["urn"] for r in result.resources if r["type"] == RELEASE
    }
    custom = [r for r in result.resources if r["inputs"].get("apiVersion", "").split("/")[0] in CRD_CHART]
    assert custom, f"{stack}: no custom resources found"
    for resource in custom:
        group = resource["inputs"]["apiVersion"].split("/")[0]
        chart = CRD_CHART[group]
        assert release_urns[chart] in resource["depends_on"], (
            f"{stack}: {resource['type']} {resource['name']} does not depend on the {chart} release"
        )


def test_every_kubernetes_resource_has_a_component_parent() -> None:
    result = rendered("narvik-c1")
    urns = {r["urn"]: r for r in result.resources}
    for r in result.resources:
        if r["type"] == "gigafactory:cluster:GpuCluster":
            assert r["parent"] is None
        else:
            assert urns[r["parent"]]["type"].startswith("gigafactory:"), (
                f"{r['name']} has no component parent"
            )


def _render_site(tmp_path: Path, data: dict[str, Any], cluster: str) -> RenderResult:
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(data), encoding="utf-8")
    # Each GPU pool gets its own IPoIB subnet (8 addresses a node): the 10x pools need a /13
    # (41,760 trays x 8 = 334,080 addresses), more than the default /16 holds.
    config = {
        "gigafactory:site": str(site),
        "gigafactory:cluster": cluster,
        "gigafactory:ibSubnet": "100.64.0.0/12",
    }
    root = make_project(tmp_path, "big", config)
    return render_stack("big", root=root)


def test_resource_count_does_not_grow_with_nodes(tmp_path: Path) -> None:
    """narvik c1 as it is (232 GPU racks: 4,176 + 48 + 32 = 4,256 nodes) against the same
    site with 10x the racks (2,320 x 18 = 41,760 trays + 80 = 41,840 nodes)."""
    data = site_data()
    for cluster in data["clusters"]:
        for pool in cluster["pools"]:
            pool["racks"] *= 10
            pool.pop("first_rack", None)  # let the model lay the larger pools out
        # 42,560 nodes need more pod subnets than the default /11 of /24s (8,192):
        # a /10 cut into /26s holds 2^(26-10) = 65,536.
        cluster["kubernetes"] = {"pod_cidr": "10.128.0.0/10", "node_cidr_mask": 26}
    big = _render_site(tmp_path, data, "c1")
    assert sum(1 for _ in big.resources) == len(rendered("narvik-c1").resources)
    assert big.outputs["pools"]["train"]["nodes"] == 2320 * 18  # 41,760
    assert big.outputs["gpus"] == 2320 * 18 * 4  # 167,040


def test_resource_count_grows_with_pools(tmp_path: Path) -> None:
    data = site_data()
    data["clusters"][3]["pools"].append(
        {
            "name": "infer",
            "role": "inference",
            "sku": "gb300-nvl72",
            "hall": "hall-d",
            "racks": 2,
            "first_rack": 250,
        }
    )
    more = _render_site(tmp_path, data, "c4")
    # One more pool with GPUs: a NodePool component, its Topology, flavor and queue, an
    # IPoIB address pool and the SriovNetworkNodePolicy for its compute NICs' VFs.
    assert len(more.resources) == len(rendered("narvik-c4").resources) + 6


def test_stack_outputs_report_pools_gpus_and_versions() -> None:
    outputs = rendered("narvik-c6").outputs
    assert outputs["pools"]["train"]["gpus"] == 224 * 18 * 4  # 16,128
    assert outputs["pools"]["train"]["queue"] == "c6-train"
    assert outputs["gpus"] == 224 * 18 * 4
    assert outputs["installed"]["gpu-operator"] == versions.GPU_OPERATOR.version
    assert outputs["installed"]["kueue"] == versions.KUEUE.version
    assert outputs["gpuDriver"] == "host"
    assert rendered("kind").outputs["gpuMode"] == "simulated"


def test_render_twice_in_one_process_is_identical() -> None:
    first = render_stack("kind")
    render_stack("narvik-c2")
    assert render_stack("kind").resources == first.resources


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"gigafactory:cluster": "c1"}, "gigafactory:site is missing"),
        ({"gigafactory:site": "sites/narvik.yaml"}, "gigafactory:cluster is missing"),
        ({"gigafactory:site": "sites/narvik.yaml", "gigafactory:cluster": "c9"}, "cluster 'c9' is not in"),
        ({"gigafactory:site": "sites/nowhere.yaml", "gigafactory:cluster": "c1"}, "not found"),
        (
            {
                "gigafactory:site": "sites/narvik.yaml",
                "gigafactory:cluster": "c1",
                "gigafactory:platform": "kind",
            },
            "cannot override",
        ),
    ],
)
def test_bad_stack_config_is_one_clear_error(tmp_path: Path, config: dict[str, str], message: str) -> None:
    root = make_project(tmp_path, "bad", config)
    if "nowhere" not in config.get("gigafactory:site", "") and "site" in str(config):
        (tmp_path / "sites").mkdir()
        (tmp_path / "sites" / "narvik.yaml").write_text(NARVIK.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(StackConfigError, match=message):
        render_stack("bad", root=root)


def test_broken_site_file_is_a_site_error(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text("name: [\n", encoding="utf-8")
    root = make_project(tmp_path, "bad", {"gigafactory:site": "site.yaml", "gigafactory:cluster": "c1"})
    with pytest.raises(SiteFileError, match="not valid YAML"):
        render_stack("bad", root=root)


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    code = "from gigafactory.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, check=False
    )


def test_cli_render_writes_the_offline_plan(tmp_path: Path) -> None:
    proc = _cli("render", "--stack", "narvik-c1", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "resources.json").read_text(encoding="utf-8"))
    assert {k: data[k] for k in ("stack", "site", "cluster", "platform")} == {
        "stack": "narvik-c1",
        "site": "narvik",
        "cluster": "c1",
        "platform": "baremetal",
    }
    assert set(data["resources"][0]) == {"urn", "type", "name", "parent", "depends_on", "inputs"}
    flavor = yaml.safe_load(
        (tmp_path / "manifests" / "resourceflavor-c1-train.yaml").read_text(encoding="utf-8")
    )
    assert flavor["spec"]["nodeTaints"][0]["key"] == "nvidia.com/gpu"
    release = yaml.safe_load((tmp_path / "releases" / "gpu-operator.yaml").read_text(encoding="utf-8"))
    assert release["version"] == versions.GPU_OPERATOR.version
    assert release["repository"] == versions.GPU_OPERATOR.repo


def test_cli_render_bad_stack_is_one_line_exit_2() -> None:
    proc = _cli("render", "--stack", "no-such-stack")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "no-such-stack" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("stack", NARVIK_STACKS)
def test_narvik_stacks_cover_every_cluster(stack: str) -> None:
    assert rendered(stack).cluster == stack.removeprefix("narvik-")


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_installed_output_lists_every_release(stack: str) -> None:
    result = rendered(stack)
    installed = result.outputs["installed"]
    by_chart = {
        r["inputs"]["chart"].rsplit("/", 1)[-1]: r["inputs"]["version"] for r in releases(result).values()
    }
    by_chart.pop("tenant", None)  # the chart path is ./charts/tenant
    for chart, version in by_chart.items():
        assert installed.get(chart) == version, f"{stack}: outputs.installed misses {chart} {version}"
