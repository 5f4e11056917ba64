"""charts/tenant: the objects that onboard a tenant, their isolation, and the guards."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.charts.rendering import CHARTS, NAMESPACE, Manifest, Render, RenderError, by_kind, one

CHART = "tenant"
ALPHA = ["tenant-alpha.yaml"]
MINIMAL = ["tenant-minimal.yaml"]


CLUSTER_SCOPED = {"Namespace", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def policy(docs: list[Manifest], name: str) -> dict[str, Any]:
    spec: dict[str, Any] = one(docs, "NetworkPolicy", name)["spec"]
    return spec


def test_namespace_carries_the_tenant_label_and_pod_security(render: Render) -> None:
    ns = one(render(CHART, ALPHA), "Namespace")
    assert ns["metadata"]["name"] == "alpha-training"
    labels = ns["metadata"]["labels"]
    assert labels["gigafactory.io/tenant"] == "alpha"
    assert labels["gigafactory.io/cluster"] == "narvik-c1"
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["gigafactory.io/kueue"] == "true", "Kueue manages every Job of the namespace"
    assert ns["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_namespace_defaults_to_the_site_model_name_and_may_be_deleted(render: Render) -> None:
    ns = one(render(CHART, MINIMAL), "Namespace")
    assert ns["metadata"]["name"] == "tenant-beta"
    assert "helm.sh/resource-policy" not in (ns["metadata"].get("annotations") or {})


@pytest.mark.parametrize(
    ("fixture", "tenant", "namespace"), [(ALPHA, "alpha", "alpha-training"), (MINIMAL, "beta", "tenant-beta")]
)
def test_every_object_lives_in_the_tenant_namespace_with_the_tenant_label(
    render: Render, fixture: list[str], tenant: str, namespace: str
) -> None:
    docs = render(CHART, fixture)
    assert one(docs, "Namespace")["metadata"]["name"] == namespace != NAMESPACE
    for doc in docs:
        assert doc["metadata"]["labels"]["gigafactory.io/tenant"] == tenant, doc["kind"]
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"]["namespace"] == namespace, f"{doc['kind']}/{doc['metadata']['name']}"


def test_quota_caps_gpus_cpu_memory_and_storage(render: Render) -> None:
    hard = one(render(CHART, ALPHA), "ResourceQuota")["spec"]["hard"]
    assert hard == {
        "requests.nvidia.com/gpu": "1152",
        "requests.cpu": "20000",
        "requests.memory": "200Ti",
        "pods": "2000",
        "persistentvolumeclaims": "200",
        "requests.storage": "2Pi",
    }


def test_cpu_only_tenant_gets_a_zero_gpu_quota(render: Render) -> None:
    hard = one(render(CHART, MINIMAL), "ResourceQuota")["spec"]["hard"]
    assert hard == {"requests.nvidia.com/gpu": "0"}


def test_limit_range_sets_defaults_and_caps_gpus_per_container(render: Render) -> None:
    (limit,) = one(render(CHART, ALPHA), "LimitRange")["spec"]["limits"]
    assert limit["type"] == "Container"
    assert limit["max"] == {"nvidia.com/gpu": "4"}
    assert limit["defaultRequest"] == {"cpu": "500m", "memory": "1Gi"}
    # No GPU unless asked: without a GPU default, Kubernetes defaults the limit to the max (4).
    assert limit["default"] == {"nvidia.com/gpu": "0", "memory": "4Gi"}


def test_local_queue_is_bound_to_the_tenant_cluster_queue(render: Render) -> None:
    queue = one(render(CHART, ALPHA), "LocalQueue")
    assert queue["apiVersion"] == "kueue.x-k8s.io/v1beta2"
    assert queue["metadata"] == {**queue["metadata"], "name": "training", "namespace": "alpha-training"}
    assert queue["spec"] == {"clusterQueue": "narvik-c1-alpha"}


def test_default_deny_covers_every_pod_both_ways(render: Render) -> None:
    deny = policy(render(CHART, ALPHA), "default-deny")
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_dns_is_allowed_only_to_the_cluster_dns_pods(render: Render) -> None:
    (rule,) = policy(render(CHART, ALPHA), "allow-dns")["egress"]
    assert rule["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert sorted((p["protocol"], p["port"]) for p in rule["ports"]) == [("TCP", 53), ("UDP", 53)]


def test_api_server_is_allowed_by_its_addresses(render: Render) -> None:
    (rule,) = policy(render(CHART, ALPHA), "allow-apiserver")["egress"]
    assert rule["to"] == [{"ipBlock": {"cidr": "192.0.2.10/32"}}, {"ipBlock": {"cidr": "192.0.2.11/32"}}]
    assert [p["port"] for p in rule["ports"]] == [6443, 443]


def test_pods_of_the_namespace_reach_each_other_on_every_port_for_nccl(render: Render) -> None:
    intra = policy(render(CHART, ALPHA), "allow-intra-namespace")
    # A bare podSelector (no namespaceSelector) means: pods of this namespace only.
    assert intra["ingress"] == [{"from": [{"podSelector": {}}]}]
    assert intra["egress"] == [{"to": [{"podSelector": {}}]}]
    assert intra["policyTypes"] == ["Ingress", "Egress"]


def test_no_policy_opens_ingress_to_other_tenants(render: Render) -> None:
    docs = render(CHART, ALPHA)
    for np in by_kind(docs, "NetworkPolicy"):
        for rule in np["spec"].get("ingress", []):
            for peer in rule["from"]:
                assert "ipBlock" not in peer, np["metadata"]["name"]
                selector = peer.get("namespaceSelector")
                if selector is not None:
                    assert selector.get("matchLabels"), f"{np['metadata']['name']} admits every namespace"
    ingress = policy(docs, "allow-ingress-from-namespaces")["ingress"]
    assert ingress == [
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]}
    ]


def test_extra_egress_rules_are_rendered_as_given(render: Render) -> None:
    (rule,) = policy(render(CHART, ALPHA), "allow-extra-egress")["egress"]
    assert rule == {
        "to": [{"ipBlock": {"cidr": "198.51.100.0/24"}}],
        "ports": [{"protocol": "TCP", "port": 443}],
    }


def test_tenant_groups_are_bound_inside_the_namespace_only(render: Render) -> None:
    docs = render(CHART, ALPHA)
    assert not [d for d in docs if d["kind"] in ("ClusterRoleBinding", "ClusterRole", "Role")]
    bindings = {b["roleRef"]["name"]: b for b in by_kind(docs, "RoleBinding")}
    assert set(bindings) == {"edit", "view"}
    for role, group in (("edit", "alpha-ml-engineers"), ("view", "alpha-auditors")):
        assert bindings[role]["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": role,
        }
        assert bindings[role]["subjects"] == [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}
        ]


def test_minimal_tenant_renders_no_optional_objects(render: Render) -> None:
    kinds = sorted(d["kind"] for d in render(CHART, MINIMAL))
    assert kinds == ["Namespace", "ResourceQuota", "RoleBinding"]


# --- RDMA: IPC_LOCK and nothing broader ---------------------------------------------------


def test_without_rdma_the_namespace_enforces_baseline_and_no_policy(render: Render) -> None:
    docs = render(CHART, ALPHA)
    labels = one(docs, "Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert not by_kind(docs, "ValidatingAdmissionPolicy")


def test_rdma_tenant_gets_baseline_plus_ipc_lock_only(render: Render) -> None:
    docs = render(CHART, ALPHA, {"rdma.ipcLock": True})
    labels = one(docs, "Namespace")["metadata"]["labels"]
    # PSA cannot add one capability, so the chart's policy enforces baseline instead.
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    assert labels["pod-security.kubernetes.io/audit"] == "baseline"
    policy = one(docs, "ValidatingAdmissionPolicy")
    binding = one(docs, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"] == "alpha-training-baseline-ipc-lock"
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["matchResources"]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "alpha-training"}
    }
    expressions = " ".join(v["expression"] for v in policy["spec"]["validations"])
    caps = re.search(r"cap in \[(.*?)\]", expressions)
    assert caps, expressions
    allowed = {c.strip().strip("'") for c in caps.group(1).split(",")}
    baseline = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD"}
    baseline |= {"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
    assert allowed == baseline | {"IPC_LOCK"}, (
        "IPC_LOCK added, nothing broader (no SYS_ADMIN, NET_ADMIN, ...)"
    )
    for check in ("hostNetwork", "privileged", "hostPath", "hostPort", "procMount", "Unconfined", "sysctls"):
        assert check in expressions, f"baseline check {check} missing"


# --- guards ---------------------------------------------------------------------------

# One case per `fail` in templates/_helpers.tpl: (change to tenant-alpha.yaml, message fragment).
GUARDS: list[tuple[dict[str, object], str]] = [
    ({"tenant.name": ""}, "tenant.name is required"),
    ({"kueue.clusterQueue": ""}, "kueue.clusterQueue is required"),
    ({"networkPolicy.apiServer.cidrs": []}, "networkPolicy.apiServer.cidrs is required"),
    ({"rbac.groups": []}, "rbac.groups needs at least one group"),
    ({"rbac.viewerGroups": ["alpha-ml-engineers"]}, "is in both rbac.groups and rbac.viewerGroups"),
    ({"quota.gpus": 2}, "limitRange.maxGpusPerContainer=4 exceeds quota.gpus=2"),
    (
        {"rdma.ipcLock": True, "tenant.podSecurity": "restricted"},
        "rdma.ipcLock adds IPC_LOCK to the baseline",
    ),
]
SCHEMA_REJECTS: list[tuple[dict[str, object], str]] = [
    ({"tenant.name": "Alpha_Team"}, "/tenant/name"),
    ({"tenant.podSecurity": "open"}, "/tenant/podSecurity"),
    ({"quota.gpus": -1}, "/quota/gpus"),
    ({"networkPolicy.apiServer.cidrs": ["apiserver.local"]}, "/networkPolicy/apiServer/cidrs/0"),
]


@pytest.mark.parametrize(("change", "message"), GUARDS, ids=[g[1] for g in GUARDS])
def test_guard_stops_the_render(render_error: RenderError, change: dict[str, object], message: str) -> None:
    error = render_error(CHART, ALPHA, change)
    assert message in error, error


def test_guards_let_a_disabled_feature_go_without_its_values(render: Render) -> None:
    docs = render(
        CHART, ALPHA, {"kueue.enabled": False, "kueue.clusterQueue": "", "networkPolicy.enabled": False}
    )
    assert not by_kind(docs, "LocalQueue") and not by_kind(docs, "NetworkPolicy")


def test_every_fail_guard_has_a_test() -> None:
    helpers = (CHARTS / CHART / "templates" / "_helpers.tpl").read_text()
    assert len(re.findall(r"\{\{-? fail ", helpers)) == len(GUARDS)


@pytest.mark.parametrize(("change", "path"), SCHEMA_REJECTS, ids=[s[1] for s in SCHEMA_REJECTS])
def test_schema_rejects_bad_values(render_error: RenderError, change: dict[str, object], path: str) -> None:
    error = render_error(CHART, ALPHA, change)
    assert path in error, error
