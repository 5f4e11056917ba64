"""Tenants (issue 6): one tenant chart release per tenant of the stack's cluster, with
the model's quotas, and a ClusterQueue that owns exactly that share (issue 15)."""

from __future__ import annotations

import pytest

from components import versions
from tests.pulumi.conftest import ALL_STACKS, SIM_STACKS, kind_of, named, releases, rendered

# From sites/narvik.yaml and sites/kind.yaml `tenants:`, by stack: tenant -> (pool, GPUs).
EXPECTED = {
    "kind": {"demo": ("gpu", 8)},
    "minikube": {"demo": ("gpu", 8)},
    "sim": {"demo": ("gpu", 8)},
    "narvik-c1": {"msft-c1": ("train", 16704)},  # all of c1: 232 x 18 x 4
    "narvik-c1-sim": {"msft-c1": ("train", 16704)},  # c1 on the simulator: the same tenant
    "narvik-c2": {"msft-c2": ("train", 16704)},
    "narvik-c3": {"msft-c3": ("train", 16704)},
    "narvik-c4": {},
    "narvik-c5": {},
    "narvik-c6": {"research": ("train", 4608)},  # 64 racks' worth: 64 x 18 x 4
}


@pytest.mark.parametrize("stack", ALL_STACKS)
def test_one_tenant_release_per_tenant_with_model_quota(stack: str) -> None:
    result = rendered(stack)
    tenant_releases = {n: r for n, r in releases(result).items() if n.startswith("tenant-")}
    assert set(tenant_releases) == {f"tenant-{t}" for t in EXPECTED[stack]}, stack
    for tenant, (_pool, gpus) in EXPECTED[stack].items():
        release = tenant_releases[f"tenant-{tenant}"]["inputs"]
        assert release["chart"] == versions.TENANT_CHART_PATH
        assert release["version"] == versions.TENANT_CHART_VERSION
        values = release["values"]
        # The simulator's stack lets destroy remove the namespace; the others keep it.
        keep = {} if stack not in SIM_STACKS else {"keepNamespaceOnUninstall": False}
        assert values["tenant"] == {"name": tenant, "namespace": f"tenant-{tenant}", **keep}
        assert values["quota"] == {"gpus": gpus}, f"{stack}/{tenant}: namespace GPU ceiling"
        assert values["kueue"] == {"enabled": True, "clusterQueue": f"tenant-{tenant}"}
        assert values["networkPolicy"]["enabled"] is True, "tenant namespaces are default-deny"
        assert values["networkPolicy"]["apiServer"]["cidrs"], "default deny must still reach the API"


@pytest.mark.parametrize("stack", ["kind", "narvik-c1", "narvik-c6"])
def test_tenant_queue_owns_exactly_its_contract(stack: str) -> None:
    result = rendered(stack)
    for tenant, (pool, gpus) in EXPECTED[stack].items():
        spec = named(kind_of(result, "ClusterQueue"), f"tenant-{tenant}")["inputs"]["spec"]
        assert spec["cohortName"] == result.cluster, "tenant queue shares the pools' cohort"
        (group,) = spec["resourceGroups"]
        (flavor,) = group["flavors"]
        assert flavor["name"] == f"{result.cluster}-{pool}"
        assert flavor["resources"] == [
            {
                "name": "nvidia.com/gpu",
                "nominalQuota": str(gpus),
                "borrowingLimit": "0",
                "lendingLimit": str(gpus),
            }
        ]
        assert spec["preemption"]["reclaimWithinCohort"] == "Any", "the contract comes back"


def test_tenant_release_waits_for_kueue_and_its_queue() -> None:
    result = rendered("narvik-c6")
    rels = releases(result)
    queue = named(kind_of(result, "ClusterQueue"), "tenant-research")
    assert {rels["kueue"]["urn"], queue["urn"]} <= set(rels["tenant-research"]["depends_on"])


def test_research_container_limit_is_a_tray() -> None:
    values = releases(rendered("narvik-c6"))["tenant-research"]["inputs"]["values"]
    assert values["limitRange"] == {"maxGpusPerContainer": 4}, "GB300 tray: 4 GPUs"


def test_tenant_namespaces_cannot_bypass_their_queue() -> None:
    """The pool queue admits only namespaces without a tenant label; tenants go through
    their own queue (selected by namespace name), so their share is the ceiling."""
    queues = kind_of(rendered("narvik-c1"), "ClusterQueue")
    pool = named(queues, "c1-train")["inputs"]["spec"]["namespaceSelector"]
    assert pool == {"matchExpressions": [{"key": "gigafactory.io/tenant", "operator": "DoesNotExist"}]}
    tenant = named(queues, "tenant-msft-c1")["inputs"]["spec"]["namespaceSelector"]
    assert tenant == {"matchLabels": {"kubernetes.io/metadata.name": "tenant-msft-c1"}}
