"""Each stack policy of the pack (site rules, Kueue quota, tenant isolation) through `validate`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gigafactory.policy.rule import StackContext
from gigafactory.policy.site_rules import SITE_RULES
from gigafactory.site import parse_site
from tests.conftest import NARVIK, site_data
from tests.policy.harness import (
    FLAVOR,
    NAMESPACE,
    NARVIK_C1,
    NETPOL,
    QUEUE,
    RELEASE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    no_context,
    policy,
    validate_stack,
)
from tests.test_rules import CASES

Res = tuple[str, str, dict[str, Any]]


def _fails_closed(found: list[tuple[str, str | None]]) -> bool:
    return bool(found) and all("unknown at preview" in m and "fails closed" in m for m, _ in found)


# --- site rules as stack policies ---------------------------------------------------------------


def _contexts(data: dict[str, Any]) -> list[StackContext]:
    site = parse_site(data, str(NARVIK))
    return [StackContext.build(f"narvik-{c.name}", site, c.name) for c in site.clusters]


@pytest.mark.parametrize("rule", list(SITE_RULES))
def test_site_rule_passes_on_every_narvik_stack(rule: str) -> None:
    for ctx in _contexts(site_data(NARVIK)):
        assert validate_stack(policy(rule, ctx), []) == [], ctx.stack


@pytest.mark.parametrize("rule", sorted(CASES))
def test_site_rule_fails_on_a_stack_of_the_mutated_site(rule: str) -> None:
    data = site_data(NARVIK)
    CASES[rule](data)
    found = [m for ctx in _contexts(data) for m, _ in validate_stack(policy(rule, ctx), [])]
    assert found, f"{rule} did not fire on any stack"
    assert all(
        m.split(": ", 1)[0].split("/")[0] in {"site", "grid", "hall", "cluster", "pool"} for m in found
    )


def test_cluster_findings_stay_in_their_own_stack() -> None:
    data = site_data(NARVIK)
    data["clusters"][1]["pools"][0]["first_rack"] = 3  # c2's GPU pool off the SU boundary
    by_stack = {
        ctx.cluster.name: validate_stack(policy("whole-scalable-units", ctx), []) for ctx in _contexts(data)
    }
    assert by_stack["c2"] and by_stack["c2"][0][0].startswith("pool/c2/train: ")
    assert all(not found for name, found in by_stack.items() if name != "c2")


def test_site_wide_findings_reach_every_stack() -> None:
    data = site_data(NARVIK)
    data["grid"]["zone"] = "US-MIDA-PJM"
    for ctx in _contexts(data):
        (found,) = validate_stack(policy("region-grid-carbon-max", ctx), [])
        assert found[0].startswith("grid/US-MIDA-PJM: ")


def test_site_thresholds_come_from_the_pack_config() -> None:
    # c1 has 4,256 nodes; protobuf hands every number over as a float
    pol = policy("k8s-cluster-size", NARVIK_C1)
    assert validate_stack(pol, []) == []
    (found,) = validate_stack(pol, [], config={"max_nodes": 4000.0, "max_nodes_with_exception": 7500.0})
    assert "cluster c1 has 4256 nodes" in found[0]


def test_site_rule_is_not_blocked_by_unknown_resource_inputs() -> None:
    resources: list[Res] = [(RELEASE, "x", {"chart": UNKNOWN_STRING_VALUE, "values": UNKNOWN_OBJECT_VALUE})]
    assert validate_stack(policy("region-grid-carbon-max", NARVIK_C1), resources) == []


def test_site_rule_without_the_stack_config_fails_closed() -> None:
    ((msg, _),) = validate_stack(policy("region-grid-carbon-max", no_context), [])
    assert "gigafactory:site" in msg and "fails closed" in msg


# --- kueue-gpu-quota-within-pool ----------------------------------------------------------------


def _flavor(name: str = "dev-gpu", pool: str = "gpu", cluster: str = "dev") -> Res:
    labels = {"gigafactory.io/cluster": cluster, "gigafactory.io/pool": pool, "gigafactory.io/gpu": "true"}
    return (FLAVOR, f"{name}-flavor", {"metadata": {"name": name}, "spec": {"nodeLabels": labels}})


def _queue(quota: Any, name: str = "dev-gpu", flavor: str = "dev-gpu") -> Res:
    gpu = {"name": "nvidia.com/gpu", "nominalQuota": quota}
    spec = {
        "resourceGroups": [
            {"coveredResources": ["nvidia.com/gpu"], "flavors": [{"name": flavor, "resources": [gpu]}]}
        ]
    }
    return (QUEUE, f"{name}-queue", {"metadata": {"name": name}, "spec": spec})


@pytest.mark.parametrize("quota", [8, "8", 4])
def test_quota_within_the_pool_passes(quota: Any) -> None:
    # the kind site's GPU pool: 2 GB300 trays x 4 GPUs
    assert validate_stack(policy("kueue-gpu-quota-within-pool"), [_flavor(), _queue(quota)]) == []


@pytest.mark.parametrize(
    ("resources", "why"),
    [
        ([_flavor(), _queue(9)], "gives 9 GPUs of flavor dev-gpu, but pool dev/gpu (8 GPUs)"),
        ([_flavor(), _queue(8), _queue(8, name="other")], "together give 16 GPUs of flavor dev-gpu"),
        ([_flavor(pool="system"), _queue(8)], "pool dev/system (0 GPUs)"),
        ([_flavor(pool="nope"), _queue(8)], "selects pool 'nope', which cluster dev does not have"),
        ([_flavor(cluster="c1"), _queue(8)], "selects cluster 'c1', but this stack is 'dev'"),
        ([_queue(8)], "which no ResourceFlavor of this stack defines"),
    ],
)
def test_quota_above_the_pool_fails(resources: list[Res], why: str) -> None:
    found = validate_stack(policy("kueue-gpu-quota-within-pool"), resources)
    assert found and any(why in m for m, _ in found), found
    assert all(urn and "ClusterQueue" in urn for _, urn in found)


def test_quota_unknown_at_preview_fails_closed() -> None:
    found = validate_stack(policy("kueue-gpu-quota-within-pool"), [_flavor(), _queue(UNKNOWN_NUMBER_VALUE)])
    assert _fails_closed(found)


def test_flavor_labels_unknown_at_preview_fail_closed() -> None:
    flavor = (FLAVOR, "f", {"metadata": {"name": "dev-gpu"}, "spec": {"nodeLabels": UNKNOWN_OBJECT_VALUE}})
    found = validate_stack(policy("kueue-gpu-quota-within-pool"), [flavor, _queue(8)])
    assert found and all("unknown at preview" in m for m, _ in found)


# --- ipoib-pool-subnets-disjoint ----------------------------------------------------------------

IPPOOL = "kubernetes:nv-ipam.nvidia.com/v1alpha1:IPPool"


def _ippool(name: str, subnet: Any) -> Res:
    return (IPPOOL, name, {"metadata": {"name": name}, "spec": {"subnet": subnet}})


def test_disjoint_ipoib_pools_pass() -> None:
    pools = [_ippool("a", "100.64.0.0/16"), _ippool("b", "100.65.0.0/22")]
    assert validate_stack(policy("ipoib-pool-subnets-disjoint"), pools) == []


@pytest.mark.parametrize(
    ("second", "why"),
    [
        ("100.64.0.0/16", "IPPool b subnet 100.64.0.0/16 overlaps IPPool a's 100.64.0.0/16"),
        ("100.64.128.0/17", "IPPool b subnet 100.64.128.0/17 overlaps IPPool a's 100.64.0.0/16"),
        ("not-a-cidr", "'not-a-cidr' is not a network address range"),
    ],
)
def test_overlapping_ipoib_pools_fail(second: str, why: str) -> None:
    found = validate_stack(
        policy("ipoib-pool-subnets-disjoint"), [_ippool("a", "100.64.0.0/16"), _ippool("b", second)]
    )
    assert found and any(why in m for m, _ in found), found


def test_ipoib_subnet_unknown_at_preview_fails_closed() -> None:
    found = validate_stack(
        policy("ipoib-pool-subnets-disjoint"),
        [_ippool("a", "100.64.0.0/16"), _ippool("b", UNKNOWN_STRING_VALUE)],
    )
    assert _fails_closed(found)


# --- tenant-namespace-isolation -----------------------------------------------------------------


def _tenant_release(**values: Any) -> Res:
    v: dict[str, Any] = {"tenant": {"name": "demo", "namespace": "tenant-demo"}, **values}
    return (RELEASE, "tenant-demo", {"chart": "./charts/tenant", "version": "0.1.0", "values": v})


def _namespace(labels: dict[str, str] | None = None, name: str = "tenant-demo") -> Res:
    labels = {"gigafactory.io/tenant": "demo"} if labels is None else labels
    return (NAMESPACE, name, {"metadata": {"name": name, "labels": labels}})


def _deny(ns: Any = "tenant-demo", selector: dict[str, Any] | None = None, types: Any = None) -> Res:
    spec = {"podSelector": selector or {}, "policyTypes": types or ["Ingress", "Egress"]}
    return (NETPOL, "deny", {"metadata": {"name": "default-deny", "namespace": ns}, "spec": spec})


@pytest.mark.parametrize(
    "resources",
    [
        [_tenant_release()],
        [_namespace(), _deny()],
        [_namespace(), _deny(types=["Ingress"])],
    ],
)
def test_isolated_tenant_passes(resources: list[Res]) -> None:
    assert validate_stack(policy("tenant-namespace-isolation"), resources) == []


@pytest.mark.parametrize(
    ("resources", "why"),
    [
        ([], "tenant demo of cluster dev has no namespace tenant-demo"),
        ([_tenant_release(networkPolicy={"enabled": False})], "gets no default-deny NetworkPolicy"),
        (
            [_tenant_release(tenant={"name": "demo", "namespace": "demo"})],
            "but the site model names it tenant-demo",
        ),
        (
            [
                _tenant_release(
                    tenant={
                        "name": "demo",
                        "namespace": "tenant-demo",
                        "namespaceLabels": {"gigafactory.io/tenant": "x"},
                    }
                )
            ],
            "sets gigafactory.io/tenant='x'",
        ),
        ([_namespace()], "has no default-deny NetworkPolicy"),
        ([_namespace({}), _deny()], "carries gigafactory.io/tenant=None, expected 'demo'"),
        ([_namespace(), _deny(selector={"matchLabels": {"app": "x"}})], "has no default-deny NetworkPolicy"),
        ([_namespace(), _deny(types=["Egress"])], "has no default-deny NetworkPolicy"),
        # any namespace labelled as a tenant's is held to the same rule
        (
            [_tenant_release(), _namespace({"gigafactory.io/tenant": "guest"}, name="guest")],
            "tenant namespace guest has no default-deny",
        ),
    ],
)
def test_open_or_missing_tenant_fails(resources: list[Res], why: str) -> None:
    found = validate_stack(policy("tenant-namespace-isolation"), resources)
    assert any(why in m for m, _ in found), found


@pytest.mark.parametrize(
    "resources",
    [
        [_tenant_release(tenant={"name": UNKNOWN_STRING_VALUE, "namespace": "tenant-demo"})],
        [_namespace(), _deny(ns=UNKNOWN_STRING_VALUE)],
    ],
)
def test_tenant_values_unknown_at_preview_fail_closed(resources: list[Res]) -> None:
    found = validate_stack(policy("tenant-namespace-isolation"), resources)
    assert found and any("unknown at preview" in m and "fails closed" in m for m, _ in found), found


def test_narvik_tenants_are_per_cluster() -> None:
    # c4 has no tenant in the site model: nothing to isolate; c1 has msft-c1
    site = NARVIK_C1.site
    c4 = StackContext.build("narvik-c4", site, "c4")
    assert validate_stack(policy("tenant-namespace-isolation", c4), []) == []
    ((msg, _),) = validate_stack(policy("tenant-namespace-isolation", NARVIK_C1), [])
    assert "tenant msft-c1 of cluster c1 has no namespace tenant-msft-c1" in msg


Loader = Callable[[], StackContext]


@pytest.mark.parametrize("name", ["kueue-gpu-quota-within-pool", "tenant-namespace-isolation"])
def test_model_policies_without_the_stack_config_fail_closed(name: str) -> None:
    ((msg, _),) = validate_stack(policy(name, no_context), [_flavor(), _queue(8)])
    assert "cannot load the stack's site model" in msg
