"""charts/gpu-burnin as the acceptance gate of issue 15: DCGM level 3, a ComputeDomain per
multi-node run, no socket fallback, per-SKU floors from the catalog, InfiniBand and NVLink
tests, and the untested taint that only a passed per-node run removes."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gigafactory.baremetal.burnin import SKU_VALUES_DIR, gpu_skus, sku_values, stale_sku_values
from gigafactory.site import catalog
from gigafactory.site.model import UNTESTED_TAINT
from tests.charts.rendering import CHARTS, NAMESPACE, REPO, Manifest, Render, by_kind, load_values, one

CHART = "gpu-burnin"
FULLNAME = "acc-gpu-burnin"
PER_NODE = {"target.pool": "gb300-train", "target.nodes": 18}
MULTI = ["gpu-burnin-multinode.yaml"]
SU = ["gpu-burnin-su.yaml"]


def spec(job: Manifest) -> dict[str, Any]:
    found: dict[str, Any] = job["spec"]["template"]["spec"]
    return found


def container(job: Manifest, name: str) -> dict[str, Any]:
    everything = spec(job).get("initContainers", []) + spec(job)["containers"]
    (found,) = [c for c in everything if c["name"] == name]
    assert isinstance(found, dict)
    return found


def env(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


# --- DCGM level -------------------------------------------------------------------------


def test_acceptance_runs_dcgm_level_3_by_default(render: Render) -> None:
    assert load_values(CHART)["perNode"]["dcgm"]["level"] == 3
    job = one(render(CHART, sets=PER_NODE), "Job", f"{FULLNAME}-node")
    assert env(container(job, "dcgm-diag"))["DCGM_LEVEL"] == "3"


# --- ComputeDomain ----------------------------------------------------------------------


def test_multi_node_run_gets_its_own_compute_domain_whose_channel_the_pods_claim(render: Render) -> None:
    docs = render(CHART, MULTI)
    domain = one(docs, "ComputeDomain", f"{FULLNAME}-cd")
    assert domain["apiVersion"] == "resource.nvidia.com/v1beta1"
    assert domain["spec"]["numNodes"] == 18
    channel = domain["spec"]["channel"]["resourceClaimTemplate"]["name"]
    job = one(docs, "Job", f"{FULLNAME}-mn")
    assert spec(job)["resourceClaims"] == [{"name": "imex-channel", "resourceClaimTemplateName": channel}]
    assert container(job, "nccl-multi-node")["resources"]["claims"] == [{"name": "imex-channel"}]


def test_dgx_runs_and_per_node_runs_have_no_compute_domain(render: Render) -> None:
    assert by_kind(render(CHART, SU), "ComputeDomain") == []
    assert by_kind(render(CHART, sets=PER_NODE), "ComputeDomain") == []


def test_an_own_claim_template_replaces_the_compute_domain(render: Render) -> None:
    docs = render(
        CHART, MULTI, {"multiNode.computeDomain.enabled": False, "multiNode.resourceClaimTemplateName": "t"}
    )
    assert by_kind(docs, "ComputeDomain") == []
    job = one(docs, "Job", f"{FULLNAME}-mn")
    assert spec(job)["resourceClaims"] == [{"name": "imex-channel", "resourceClaimTemplateName": "t"}]


# --- no socket fallback, InfiniBand bandwidth -------------------------------------------


def test_multi_node_nccl_must_use_infiniband(render: Render) -> None:
    assert load_values(CHART)["multiNode"]["requireNetwork"] == "IB"
    job = one(render(CHART, MULTI), "Job", f"{FULLNAME}-mn")
    assert env(container(job, "nccl-multi-node"))["REQUIRE_NET"] == "IB"


def test_multi_node_run_measures_infiniband_before_nccl(render: Render) -> None:
    job = one(render(CHART, SU), "Job", f"{FULLNAME}-mn")
    assert [c["name"] for c in spec(job)["initContainers"]] == ["ib-write-bw"]
    ib = container(job, "ib-write-bw")
    variables = env(ib)
    assert variables["IB_DEVICES"] == " ".join(f"mlx5_{i}" for i in range(8))
    assert variables["IB_MIN_GBPS"] == "720"
    assert variables["JOB_NAME"] == f"{FULLNAME}-mn"
    # device k uses TCP port 18515 + k for its out-of-band exchange
    assert [p["containerPort"] for p in ib["ports"]] == list(range(18515, 18523))
    assert env(container(job, "nccl-multi-node"))["IB_ENABLED"] == "true"


# --- NVLink ------------------------------------------------------------------------------


def test_per_node_run_checks_every_nvlink_link(render: Render) -> None:
    job = one(render(CHART, sets=PER_NODE), "Job", f"{FULLNAME}-node")
    nvlink = container(job, "nvlink-check")
    assert nvlink["command"] == ["/bin/bash", "/opt/burnin/nvlink-check.sh"]
    assert env(nvlink)["MIN_LINKS_PER_GPU"] == "18"  # NVLink 5: 18 links per GPU
    assert nvlink["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert env(container(job, "report"))["NVLINK_ENABLED"] == "true"


# --- per-SKU floors from the catalog ----------------------------------------------------


def test_sku_values_files_are_generated_from_the_catalog() -> None:
    assert stale_sku_values(REPO) == []
    assert sorted(p.name for p in (REPO / SKU_VALUES_DIR).glob("*.yaml")) == sorted(
        f"{s}.yaml" for s in gpu_skus()
    )


def test_gb300_floors_come_from_its_catalog_entry() -> None:
    sku = catalog.skus()["gb300-nvl72"]
    values = sku_values("gb300-nvl72")
    # NVLink 5: 1.8 TB/s bidirectional = 900 GB/s per direction; 80% = 720 GB/s
    assert values["perNode"]["nccl"]["minBusBandwidthGBps"] == sku.nccl_busbw_floor_gb_s == 720
    assert values["multiNode"]["minBusBandwidthGBps"] == 720  # rack: multi-node NVLink
    # ConnectX-8 800 Gb/s; 90% = 720 Gb/s
    assert values["multiNode"]["ib"]["minBandwidthGbps"] == sku.ib_write_bw_floor_gbps == 720
    assert values["multiNode"]["computeDomain"] == {"enabled": True}
    assert values["topology"] == {"nodesPerRack": 18, "racksPerSU": 8}


def test_dgx_multi_node_floor_is_bounded_by_infiniband() -> None:
    values = sku_values("dgx-h100")
    # 8 NICs x 360 Gb/s / 8 bits = 360 GB/s
    assert values["multiNode"]["minBusBandwidthGBps"] == 8 * 360 / 8 == 360
    assert values["multiNode"]["computeDomain"] == {"enabled": False}
    with pytest.raises(ValueError, match="cpu-2u has no GPUs"):
        sku_values("cpu-2u")


def test_the_chart_takes_the_floors_from_the_sku_values_file(render: Render) -> None:
    sku_file = str(CHARTS / CHART / "skus" / "gb300-nvl72.yaml")
    job = one(render(CHART, [sku_file], PER_NODE), "Job", f"{FULLNAME}-node")
    assert env(container(job, "nccl-single-node"))["MIN_BUSBW_GBPS"] == "720"
    multi = one(render(CHART, [sku_file, MULTI[0]]), "Job", f"{FULLNAME}-mn")
    assert env(container(multi, "ib-write-bw"))["IB_MIN_GBPS"] == "720"
    text = (CHARTS / CHART / "skus" / "gb300-nvl72.yaml").read_text()
    assert yaml.safe_load(text) == sku_values("gb300-nvl72")


# --- untested taint: registered -> burn-in -> admitted ---------------------------------


@pytest.mark.parametrize(("values", "job"), [((), "node"), (MULTI, "mn")])
def test_test_pods_tolerate_the_models_untested_taint(render: Render, values: Any, job: str) -> None:
    sets = PER_NODE if job == "node" else None
    found = one(render(CHART, values, sets), "Job", f"{FULLNAME}-{job}")
    assert UNTESTED_TAINT.toleration() in spec(found)["tolerations"]


def test_a_passed_node_is_admitted_by_removing_the_untested_taint(render: Render) -> None:
    docs = render(CHART, sets=PER_NODE)
    job = one(docs, "Job", f"{FULLNAME}-node")
    pod = spec(job)
    # report is the last init container: admit runs only when report exited 0 (all passed)
    assert pod["initContainers"][-1]["name"] == "report"
    (admit,) = pod["containers"]
    assert admit["name"] == "admit"
    assert admit["args"] == ["taint", "nodes", "$(NODE_NAME)", f"{UNTESTED_TAINT.key}:NoSchedule-"]
    assert env(admit)["NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    # the node-patching token is mounted into the admit container only
    assert pod["automountServiceAccountToken"] is False
    mounts = {
        c["name"]: [m["name"] for m in c.get("volumeMounts", [])] for c in pod["initContainers"] + [admit]
    }
    assert [name for name, m in mounts.items() if "admit-token" in m] == ["admit"]
    account = pod["serviceAccountName"]
    role = one(docs, "ClusterRole", account)
    assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}]
    binding = one(docs, "ClusterRoleBinding", account)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]
    one(docs, "ServiceAccount", account)
    summary = one(docs, "Pod", f"{FULLNAME}-summary")["spec"]["containers"][0]["args"]
    assert any('initContainerStatuses[?(@.name=="report")]' in a for a in summary)


def test_admission_off_renders_no_node_rbac_and_reports_as_the_container(render: Render) -> None:
    docs = render(CHART, sets={**PER_NODE, "admission.enabled": False})
    assert by_kind(docs, "ClusterRole") == [] and by_kind(docs, "ClusterRoleBinding") == []
    pod = spec(one(docs, "Job", f"{FULLNAME}-node"))
    assert [c["name"] for c in pod["containers"]] == ["report"]
    assert "serviceAccountName" not in pod


def test_multi_node_runs_never_admit(render: Render) -> None:
    docs = render(CHART, MULTI)
    assert by_kind(docs, "ClusterRole") == []
    assert "admit" not in [c["name"] for c in spec(one(docs, "Job", f"{FULLNAME}-mn"))["containers"]]
