"""Tenancy (issue 15): contracts as nominal quota, no GPU pod outside Kueue, the API server
reached by the control-plane hosts' addresses only."""

from __future__ import annotations

import json

import pytest

from components.tenants import GPU_ADMISSION_MESSAGE, GPU_ADMISSION_POLICY
from tests.pulumi.conftest import ALL_STACKS, kind_of, named, releases, rendered


def _gpu_quota(queue: dict[str, object], flavor: str) -> dict[str, str]:
    spec = queue["inputs"]["spec"]  # type: ignore[index]
    (group,) = spec["resourceGroups"]
    (f,) = [f for f in group["flavors"] if f["name"] == flavor]
    (res,) = f["resources"]
    return dict(res)


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_nominal_quotas_of_a_pool_add_up_to_its_gpus(stack: str) -> None:
    """Tenant contracts plus the pool's remainder are exactly the pool's GPUs."""
    result = rendered(stack)
    queues = kind_of(result, "ClusterQueue")
    gpu_pools = [p for p in result.outputs["pools"].values() if p["queue"] is not None]
    assert gpu_pools, stack
    for pool in gpu_pools:
        total = 0
        for q in queues:
            flavors = q["inputs"]["spec"]["resourceGroups"][0]["flavors"]
            if any(f["name"] == pool["flavor"] for f in flavors):
                total += int(_gpu_quota(q, pool["flavor"])["nominalQuota"])
        assert total == pool["gpus"], f"{stack}/{pool['flavor']}: {total} GPUs in nominal quotas"


def test_research_contract_is_reclaimed_from_the_pool_queue() -> None:
    """c6: research owns 4,608 of the pool's 16,128 GPUs; the pool queue owns 11,520 and may
    borrow research's idle GPUs, which research takes back by preemption."""
    queues = kind_of(rendered("narvik-c6"), "ClusterQueue")
    pool, tenant = named(queues, "c6-train"), named(queues, "tenant-research")
    assert _gpu_quota(pool, "c6-train") == {"name": "nvidia.com/gpu", "nominalQuota": "11520"}
    assert _gpu_quota(tenant, "c6-train")["nominalQuota"] == "4608"
    for q in (pool, tenant):
        spec = q["inputs"]["spec"]
        assert spec["cohortName"] == "c6"
        assert spec["preemption"] == {
            "withinClusterQueue": "LowerPriority",
            "reclaimWithinCohort": "Any",
            "borrowWithinCohort": {"policy": "Never"},
        }, q["inputs"]["metadata"]["name"]


def test_kueue_manages_jobs_without_queue_name_in_tenant_namespaces_only() -> None:
    values = releases(rendered("narvik-c1"))["kueue"]["inputs"]["values"]
    config = json.loads(values["managerConfig"]["controllerManagerConfigYaml"])
    assert config["manageJobsWithoutQueueName"] is True
    assert config["managedJobsNamespaceSelector"] == {"matchLabels": {"gigafactory.io/kueue": "true"}}


def test_simulator_kueue_manages_the_same_namespaces_as_the_platform() -> None:
    from components.scheduling import kueue_config
    from gigafactory.sim.kueue import configuration

    sim = configuration(1, 2, 3, __import__("pathlib").Path("/x"))
    assert sim["manageJobsWithoutQueueName"] is kueue_config()["manageJobsWithoutQueueName"] is True
    assert sim["managedJobsNamespaceSelector"] == kueue_config()["managedJobsNamespaceSelector"]


@pytest.mark.parametrize("stack", ["narvik-c1", "sim"])
def test_gpu_pods_in_tenant_namespaces_are_refused_without_kueue(stack: str) -> None:
    result = rendered(stack)
    (policy,) = kind_of(result, "ValidatingAdmissionPolicy")
    (binding,) = kind_of(result, "ValidatingAdmissionPolicyBinding")
    assert policy["type"] == "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
    spec = policy["inputs"]["spec"]
    assert spec["failurePolicy"] == "Fail"
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["pods"] and rule["operations"] == ["CREATE"]
    (validation,) = spec["validations"]
    assert validation["message"] == GPU_ADMISSION_MESSAGE
    assert "nvidia.com/gpu" in validation["expression"]
    assert "kueue.x-k8s.io/queue-name" in validation["expression"]
    bspec = binding["inputs"]["spec"]
    assert bspec["policyName"] == GPU_ADMISSION_POLICY == policy["inputs"]["metadata"]["name"]
    assert bspec["validationActions"] == ["Deny"]
    assert bspec["matchResources"]["namespaceSelector"] == {
        "matchExpressions": [{"key": "gigafactory.io/tenant", "operator": "Exists"}]
    }


def test_no_admission_policy_without_tenants() -> None:
    assert kind_of(rendered("narvik-c4"), "ValidatingAdmissionPolicy") == []


def test_tenants_reach_the_api_server_by_the_control_plane_hosts_only() -> None:
    """c1's control plane: three hosts at the top of hall-a's 10.16.0.0/18 (broadcast .63.255)."""
    values = releases(rendered("narvik-c1"))["tenant-msft-c1"]["inputs"]["values"]
    assert values["networkPolicy"]["apiServer"]["cidrs"] == [
        "10.16.63.254/32",
        "10.16.63.253/32",
        "10.16.63.252/32",
    ]


def test_cilium_cidr_policies_match_node_addresses() -> None:
    values = releases(rendered("narvik-c1"))["cilium"]["inputs"]["values"]
    assert values["policyCIDRMatchMode"] == ["nodes"]


@pytest.mark.parametrize(
    ("stack", "tenant", "rdma"), [("narvik-c1", "msft-c1", True), ("sim", "demo", False)]
)
def test_bare_metal_gpu_tenants_get_the_ipc_lock_exception(stack: str, tenant: str, rdma: bool) -> None:
    values = releases(rendered(stack))[f"tenant-{tenant}"]["inputs"]["values"]
    assert ("rdma" in values) is rdma
    if rdma:
        assert values["rdma"] == {"ipcLock": True}
