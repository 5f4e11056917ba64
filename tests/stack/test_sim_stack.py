"""A production cluster on the simulator: the narvik-c1-sim stack runs cluster c1 of the reference
site with platform kwok. Any cluster may move onto the simulator; only a laptop cluster onto
kind or minikube. Everything about a pool stays the model's: the sim stack's pools, flavors,
topology and queues are the production stack's, object for object."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gigafactory.errors import StackConfigError
from gigafactory.stack.render import platform_override_allowed, render_stack, resolve_target
from tests.conftest import REPO

# Kueue and scheduling objects a stack makes from the model's pools and tenants.
MODEL_KINDS = ("ResourceFlavor", "Topology", "ClusterQueue", "PriorityClass")


def _objects(stack: str) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for r in render_stack(stack).resources:
        inputs = r["inputs"]
        if inputs.get("kind") in MODEL_KINDS:
            out[(inputs["kind"], inputs["metadata"]["name"])] = inputs
    return out


def test_the_simulator_may_run_a_bare_metal_cluster_kind_may_not() -> None:
    site, c1 = resolve_target("sites/narvik.yaml", "c1", "kwok", REPO)
    assert c1.platform == "kwok" and site.cluster("c1").platform == "baremetal"
    # Every node stays: 232 NVL72 racks x 18 trays + 3 system racks x 16 + 2 storage racks x 16.
    assert c1.nodes == 232 * 18 + 3 * 16 + 2 * 16 == 4256
    assert platform_override_allowed("baremetal", "kwok") and platform_override_allowed("kind", "minikube")
    assert not platform_override_allowed("baremetal", "kind")
    with pytest.raises(StackConfigError) as info:
        resolve_target("sites/narvik.yaml", "c1", "minikube", REPO)
    assert str(info.value) == (
        "platform 'minikube' cannot override cluster 'c1' (baremetal); "
        "allowed: kwok (the simulator) for any cluster, kind, minikube for a laptop cluster"
    )


def test_c1_sim_stack_makes_the_production_stacks_pools_queues_and_topology() -> None:
    production, simulated = _objects("narvik-c1"), _objects("narvik-c1-sim")
    # c1: 3 pools (train, system, storage) -> 3 flavors; 1 topology (the GPU pool's); queues: the
    # train pool's and tenant msft-c1's; 3 priority classes.
    assert sorted(k for k, _ in simulated) == sorted(
        ["ResourceFlavor"] * 3 + ["Topology"] + ["ClusterQueue"] * 2 + ["PriorityClass"] * 3
    )
    assert simulated == production, "the simulator stack must make the model's objects unchanged"
    sim_out, prod_out = render_stack("narvik-c1-sim").outputs, render_stack("narvik-c1").outputs
    assert sim_out["pools"] == prod_out["pools"] and sim_out["tenants"] == prod_out["tenants"]
    assert sim_out["platform"] == "kwok" and prod_out["platform"] == "baremetal"


def test_c1_sim_stack_leaves_the_internet_charts_and_the_fabric_out() -> None:
    result = render_stack("narvik-c1-sim")
    releases = [
        r["inputs"]["chart"] for r in result.resources if r["type"] == "kubernetes:helm.sh/v3:Release"
    ]
    # Only the project's own tenant chart: no chart from a registry, no NicClusterPolicy or IPoIB pool.
    assert releases == ["./charts/tenant"]
    kinds = {r["inputs"].get("kind") for r in result.resources}
    assert not kinds & {"NicClusterPolicy", "IPPool", "NetworkAttachmentDefinition", "ClusterPolicy"}


def test_a_bare_metal_cluster_on_kind_is_exit_2_in_one_line(tmp_path: Path) -> None:
    for name in ("Pulumi.yaml", "__main__.py"):
        (tmp_path / name).write_bytes((REPO / name).read_bytes())
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "narvik.yaml").write_bytes((REPO / "sites" / "narvik.yaml").read_bytes())
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.bad.yaml").write_text(
        "config:\n  gigafactory:site: sites/narvik.yaml\n  gigafactory:cluster: c1\n  gigafactory:platform: kind\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "gigafactory", "--project-dir", str(tmp_path), "render", "--stack", "bad"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "platform 'kind' cannot override cluster 'c1'" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()
