"""charts/gpu-burnin: what it renders for a rack, a multi-node run and an SU, and its guards."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.charts.rendering import (
    CHARTS,
    NAMESPACE,
    RELEASE,
    Manifest,
    Render,
    RenderError,
    by_kind,
    load_values,
    one,
)

CHART = "gpu-burnin"
RACK = ["gpu-burnin-rack.yaml"]
MULTI = ["gpu-burnin-multinode.yaml"]
SU = ["gpu-burnin-su.yaml"]
FULLNAME = f"{RELEASE}-gpu-burnin"
PER_NODE_JOB = f"{FULLNAME}-node"
MULTI_NODE_JOB = f"{FULLNAME}-mn"
GPU_TAINT = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
UNTESTED_TAINT = {
    "key": "gigafactory.io/untested",
    "operator": "Equal",
    "value": "true",
    "effect": "NoSchedule",
}


def pod_spec(job: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


def containers(job: Manifest) -> list[dict[str, Any]]:
    spec = pod_spec(job)
    found: list[dict[str, Any]] = spec.get("initContainers", []) + spec["containers"]
    return found


def env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def container(job: Manifest, name: str) -> dict[str, Any]:
    found = [c for c in containers(job) if c["name"] == name]
    assert len(found) == 1, f"{job['metadata']['name']} has no single container {name}"
    return found[0]


# --- per-node run -------------------------------------------------------------------


def test_per_node_job_runs_one_pod_on_each_selected_node(render: Render) -> None:
    job = one(render(CHART, RACK), "Job", PER_NODE_JOB)
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 18
    anti = pod_spec(job)["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert [term["topologyKey"] for term in anti] == ["kubernetes.io/hostname"]
    assert (
        anti[0]["labelSelector"]["matchLabels"].items()
        <= job["spec"]["template"]["metadata"]["labels"].items()
    )


def test_a_failing_node_does_not_stop_the_other_nodes(render: Render) -> None:
    spec = one(render(CHART, RACK), "Job", PER_NODE_JOB)["spec"]
    assert spec["backoffLimitPerIndex"] == 0
    assert spec["maxFailedIndexes"] == 18
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_pods_select_nodes_by_the_model_labels(render: Render) -> None:
    job = one(render(CHART, RACK), "Job", PER_NODE_JOB)
    assert pod_spec(job)["nodeSelector"] == {
        "gigafactory.io/pool": "gb300-train",
        "gigafactory.io/hall": "hall-a",
        "gigafactory.io/su": "su-01",
        "gigafactory.io/rack": "r07",
    }


def test_pool_alone_selects_only_the_pool(render: Render) -> None:
    job = one(render(CHART, sets={"target.pool": "gb300-train", "target.nodes": 3}), "Job", PER_NODE_JOB)
    assert pod_spec(job)["nodeSelector"] == {"gigafactory.io/pool": "gb300-train"}


@pytest.mark.parametrize(("fixture", "job"), [(RACK, PER_NODE_JOB), (MULTI, MULTI_NODE_JOB)])
def test_test_pods_tolerate_the_gpu_pool_taint(render: Render, fixture: list[str], job: str) -> None:
    tolerations = pod_spec(one(render(CHART, fixture), "Job", job))["tolerations"]
    assert GPU_TAINT in tolerations


def test_extra_tolerations_are_added_to_the_gpu_taint(render: Render) -> None:
    tolerations = pod_spec(one(render(CHART, RACK), "Job", PER_NODE_JOB))["tolerations"]
    assert tolerations == [
        GPU_TAINT,
        UNTESTED_TAINT,
        {"key": "gigafactory.io/burn-in", "operator": "Exists", "effect": "NoSchedule"},
    ]


def test_per_node_pod_runs_dcgm_then_nccl_then_reports(render: Render) -> None:
    job = one(render(CHART, RACK), "Job", PER_NODE_JOB)
    spec = pod_spec(job)
    assert [c["name"] for c in spec["initContainers"]] == [
        "dcgm-diag",
        "nvlink-check",
        "nccl-single-node",
        "report",
    ]
    assert [c["name"] for c in spec["containers"]] == ["admit"]
    assert env(container(job, "dcgm-diag"))["DCGM_LEVEL"] == "3"
    nccl = env(container(job, "nccl-single-node"))
    assert nccl["GPUS"] == "4"
    assert nccl["MIN_BUSBW_GBPS"] == "600"
    report = env(container(job, "report"))
    assert report["DCGM_ENABLED"] == report["NCCL_ENABLED"] == "true"
    assert report["NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}


def test_dcgm_diag_may_use_profiling(render: Render) -> None:
    dcgm = container(one(render(CHART, RACK), "Job", PER_NODE_JOB), "dcgm-diag")
    assert "SYS_ADMIN" in dcgm["securityContext"]["capabilities"]["add"]


def test_disabling_dcgm_drops_its_step_and_tells_the_report(render: Render) -> None:
    job = one(render(CHART, RACK, {"perNode.dcgm.enabled": False}), "Job", PER_NODE_JOB)
    assert [c["name"] for c in pod_spec(job)["initContainers"]] == [
        "nvlink-check",
        "nccl-single-node",
        "report",
    ]
    assert env(container(job, "report"))["DCGM_ENABLED"] == "false"


def test_gpu_steps_take_every_gpu_of_the_node(render: Render) -> None:
    job = one(render(CHART, RACK), "Job", PER_NODE_JOB)
    for name in ("dcgm-diag", "nccl-single-node"):
        resources = container(job, name)["resources"]
        assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == 4, name
    assert "nvidia.com/gpu" not in container(job, "report")["resources"].get("limits", {})


def test_dgx_nodes_get_eight_gpus(render: Render) -> None:
    job = one(render(CHART, SU), "Job", MULTI_NODE_JOB)
    resources = container(job, "nccl-multi-node")["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == 8
    assert env(container(job, "nccl-multi-node"))["GPUS"] == "8"


def test_every_image_is_the_pinned_one_from_values(render: Render) -> None:
    pins = {f"{img['repository']}:{img['tag']}" for img in load_values(CHART)["images"].values()}
    images = set()
    for fixture in (RACK, MULTI):
        docs = render(CHART, fixture)
        for doc in by_kind(docs, "Job"):
            images |= {c["image"] for c in containers(doc)}
        for pod in by_kind(docs, "Pod"):
            images |= {c["image"] for c in pod["spec"]["containers"]}
    assert images == pins
    for image in images:
        assert re.fullmatch(r"[^:]+:[\w][\w.-]*", image) and not image.endswith(":latest"), image


def test_scripts_config_map_carries_the_files_verbatim(render: Render) -> None:
    data = one(render(CHART, RACK), "ConfigMap")["data"]
    files = {p.name: p.read_text() for p in (CHARTS / CHART / "files").iterdir() if p.is_file()}
    assert data == files


def test_every_script_a_container_runs_is_shipped(render: Render) -> None:
    for fixture in (RACK, MULTI):
        docs = render(CHART, fixture)
        shipped = set(one(docs, "ConfigMap")["data"])
        for job in by_kind(docs, "Job"):
            for c in containers(job):
                if c["name"] == "admit":
                    continue  # kubectl's own entrypoint, no script
                script = c["command"][-1]
                assert script.startswith("/opt/burnin/"), c["name"]
                assert script.removeprefix("/opt/burnin/") in shipped, c["name"]


def test_jobs_are_not_queued_by_default(render: Render) -> None:
    job = one(render(CHART, RACK), "Job", PER_NODE_JOB)
    assert "kueue.x-k8s.io/queue-name" not in job["metadata"]["labels"]


# --- multi-node run -----------------------------------------------------------------


def test_multi_node_run_spans_one_rack_one_pod_per_node(render: Render) -> None:
    docs = render(CHART, MULTI)
    assert [j["metadata"]["name"] for j in by_kind(docs, "Job")] == [MULTI_NODE_JOB]
    job = one(docs, "Job", MULTI_NODE_JOB)
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 18
    assert job["spec"]["backoffLimit"] == 0
    affinity = pod_spec(job)["affinity"]
    same = affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    apart = affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert [t["topologyKey"] for t in same] == ["gigafactory.io/rack"]
    assert [t["topologyKey"] for t in apart] == ["kubernetes.io/hostname"]
    assert pod_spec(job)["nodeSelector"] == {
        "gigafactory.io/pool": "gb300-train",
        "gigafactory.io/rack": "r07",
    }


def test_multi_node_pods_find_rank_zero_through_the_headless_service(render: Render) -> None:
    docs = render(CHART, MULTI)
    job = one(docs, "Job", MULTI_NODE_JOB)
    service = one(docs, "Service")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert pod_spec(job)["subdomain"] == service["metadata"]["name"]
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    variables = env(container(job, "nccl-multi-node"))
    assert variables["MASTER_ADDR"] == f"{MULTI_NODE_JOB}-0.{service['metadata']['name']}"
    assert variables["MASTER_PORT"] == str(service["spec"]["ports"][0]["port"])
    assert variables["NNODES"] == "18"
    assert variables["NCCL_IB_HCA"] == "mlx5_0,mlx5_1,mlx5_2,mlx5_3"


def test_multi_node_pods_claim_the_imex_channel_and_rdma_devices(render: Render) -> None:
    job = one(render(CHART, MULTI), "Job", MULTI_NODE_JOB)
    claims = pod_spec(job)["resourceClaims"]
    assert claims == [{"name": "imex-channel", "resourceClaimTemplateName": f"{FULLNAME}-cd-channel"}]
    resources = container(job, "nccl-multi-node")["resources"]
    assert resources["claims"] == [{"name": "imex-channel"}]
    assert resources["limits"]["nvidia.com/hostdev"] == "4"
    annotations = job["spec"]["template"]["metadata"]["annotations"]
    assert annotations["k8s.v1.cni.cncf.io/networks"].startswith("ib-rail-0")


def test_scalable_unit_run_groups_pods_by_su_and_can_be_queued(render: Render) -> None:
    docs = render(CHART, SU)
    job = one(docs, "Job", MULTI_NODE_JOB)
    same = pod_spec(job)["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert [t["topologyKey"] for t in same] == ["gigafactory.io/su"]
    assert job["spec"]["completions"] == 72
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "burnin"
    assert "resourceClaims" not in pod_spec(job)


# --- summary --------------------------------------------------------------------------


@pytest.mark.parametrize(("fixture", "run"), [(RACK, "per-node"), (MULTI, "multi-node")])
def test_summary_is_a_helm_test_listing_this_runs_pods(render: Render, fixture: list[str], run: str) -> None:
    docs = render(CHART, fixture)
    pod = one(docs, "Pod", f"{FULLNAME}-summary")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    args = pod["spec"]["containers"][0]["args"]
    assert f"--selector=app.kubernetes.io/instance={RELEASE},gigafactory.io/burnin-run={run}" in args
    assert f"--namespace={NAMESPACE}" in args
    assert any("state.terminated.message" in a for a in args)
    job = by_kind(docs, "Job")[0]
    assert job["spec"]["template"]["metadata"]["labels"]["gigafactory.io/burnin-run"] == run


def test_summary_may_only_read_pods(render: Render) -> None:
    docs = render(CHART, RACK)
    role = one(docs, "Role")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    binding = one(docs, "RoleBinding")
    account = one(docs, "ServiceAccount", f"{FULLNAME}-summary")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    assert one(docs, "Pod")["spec"]["serviceAccountName"] == account["metadata"]["name"]


def test_summary_off_renders_no_rbac(render: Render) -> None:
    kinds = {d["kind"] for d in render(CHART, SU)}
    assert kinds.isdisjoint({"Pod", "Role", "RoleBinding", "ServiceAccount"})


def test_every_object_carries_the_release_and_pool_labels(render: Render) -> None:
    for doc in render(CHART, RACK):
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == RELEASE, doc["kind"]
        assert labels["gigafactory.io/pool"] == "gb300-train", doc["kind"]


# --- guards ---------------------------------------------------------------------------

VALID: dict[str, object] = {"target.pool": "gb300-train", "target.nodes": 18}
MULTI_VALID: dict[str, object] = {
    "target.pool": "gb300-train",
    "perNode.enabled": False,
    "multiNode.enabled": True,
    "multiNode.nodes": 18,
}

# One case per `fail` in templates/_helpers.tpl: (base values, change, message fragment).
GUARDS: list[tuple[dict[str, object], dict[str, object], str]] = [
    (VALID, {"target.pool": ""}, "target.pool is required"),
    (VALID, {"multiNode.enabled": True, "multiNode.nodes": 2}, "would compete for the same GPUs"),
    (VALID, {"perNode.enabled": False}, "nothing to run"),
    (VALID, {"perNode.dcgm.enabled": False, "perNode.nccl.enabled": False}, "are both false"),
    (VALID, {"target.nodes": 0}, "target.nodes is required"),
    (VALID, {"target.rack": "r07", "target.nodes": 19}, "one rack of topology.nodesPerRack=18"),
    (VALID, {"target.su": "su-01", "target.nodes": 145}, "one scalable unit of 144 nodes"),
    (MULTI_VALID, {"multiNode.nodes": 1}, "multiNode.nodes must be at least 2"),
    (MULTI_VALID, {"multiNode.domain": "su", "target.rack": "r07"}, "cannot span a scalable unit"),
    (MULTI_VALID, {"multiNode.nodes": 19}, "does not fit one NVLink domain"),
    (MULTI_VALID, {"multiNode.domain": "su", "multiNode.nodes": 145}, "does not fit one scalable unit"),
    (MULTI_VALID, {"multiNode.resourceClaimTemplateName": "mine"}, "claim either the chart's ComputeDomain"),
    (MULTI_VALID, {"multiNode.nodes": 17}, "so multiNode.nodes=17 must be even"),
]
# Rejected by values.schema.json before any template runs: (change, value path).
SCHEMA_REJECTS: list[tuple[dict[str, object], str]] = [
    ({"images.dcgm.tag": "latest"}, "/images/dcgm/tag"),
    ({"images.nccl.tag": ""}, "/images/nccl/tag"),
    ({"perNode.dcgm.level": 5}, "/perNode/dcgm/level"),
    ({"multiNode.domain": "hall"}, "/multiNode/domain"),
    ({"target.pool": "GB300 train"}, "/target/pool"),
    ({"target.gpusPerNode": 0}, "/target/gpusPerNode"),
    ({"multiNode.requireNetwork": "Socket"}, "/multiNode/requireNetwork"),
    ({"multiNode.ib.devices": []}, "/multiNode/ib/devices"),
    ({"perNode.nvlink.minLinksPerGpu": 0}, "/perNode/nvlink/minLinksPerGpu"),
]


@pytest.mark.parametrize("base", [VALID, MULTI_VALID])
def test_guard_bases_render(render: Render, base: dict[str, object]) -> None:
    assert by_kind(render(CHART, sets=base), "Job")


@pytest.mark.parametrize(("base", "change", "message"), GUARDS, ids=[g[2] for g in GUARDS])
def test_guard_stops_the_render(
    render_error: RenderError, base: dict[str, object], change: dict[str, object], message: str
) -> None:
    error = render_error(CHART, sets={**base, **change})
    assert message in error, error


def test_every_fail_guard_has_a_test() -> None:
    helpers = (CHARTS / CHART / "templates" / "_helpers.tpl").read_text()
    assert len(re.findall(r"\{\{-? fail ", helpers)) == len(GUARDS)


@pytest.mark.parametrize(("change", "path"), SCHEMA_REJECTS, ids=[s[1] for s in SCHEMA_REJECTS])
def test_schema_rejects_bad_values(render_error: RenderError, change: dict[str, object], path: str) -> None:
    error = render_error(CHART, sets={**VALID, **change})
    assert path in error, error
