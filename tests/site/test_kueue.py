"""Kueue's objects from the model (gigafactory.site.kueue): who owns which GPUs, and the
manager settings the platform and the simulator share."""

from __future__ import annotations

import pytest

from gigafactory.site import kueue, load_site
from gigafactory.site.model import Tenant
from gigafactory.site.spec import TenantQuota
from tests.conftest import NARVIK


def _nominal(spec: dict[str, object]) -> dict[str, int]:
    groups = spec["resourceGroups"]
    assert isinstance(groups, list)
    return {f["name"]: int(r["nominalQuota"]) for g in groups for f in g["flavors"] for r in f["resources"]}


def test_the_pools_queue_holds_what_no_tenant_contracted() -> None:
    site = load_site(NARVIK)
    c6 = site.cluster("c6")
    pool = c6.pool("train")
    contracted = kueue.contracted_gpus(pool, site.tenants)
    assert contracted == 4608  # research's contract; tenants of other clusters do not count
    assert _nominal(kueue.pool_queue_spec(pool, contracted)) == {"c6-train": 224 * 18 * 4 - 4608}  # 11,520
    (research,) = site.tenants_of("c6")
    spec = kueue.tenant_queue_spec(c6, research)
    ((resource,),) = [f["resources"] for g in spec["resourceGroups"] for f in g["flavors"]]
    assert resource == {
        "name": "nvidia.com/gpu",
        "nominalQuota": "4608",
        "borrowingLimit": "0",
        "lendingLimit": "4608",
    }


def test_contracts_beyond_the_pool_are_refused_naming_the_pool() -> None:
    site = load_site(NARVIK)
    pool = site.cluster("c6").pool("train")
    big = Tenant(name="big", cluster="c6", group="g", quotas=[TenantQuota(pool="train", gpus=pool.gpus + 1)])
    with pytest.raises(ValueError, match=r"c6-train: 16129 GPUs contracted to tenants, allowed 0\.\.16128"):
        kueue.pool_queue_spec(pool, kueue.contracted_gpus(pool, [big]))


def test_manager_settings_keep_kueue_fast_at_scale() -> None:
    settings = kueue.manager_settings()
    # More than one reconcile worker for Jobs and Workloads (the default without the chart's
    # file is one), Kueue 0.19's client rate limit, and the TAS topology tree reused.
    assert settings["controller"]["groupKindConcurrency"]["Job.batch"] == 5
    assert settings["controller"]["groupKindConcurrency"]["Workload.kueue.x-k8s.io"] == 10
    assert settings["clientConnection"] == {"qps": 300, "burst": 500}
    assert settings["featureGates"] == {"TASCacheTopologyTree": True}
    # A copy each time: a caller adding its own gates changes nobody else's.
    settings["featureGates"]["X"] = True
    assert "X" not in kueue.manager_settings()["featureGates"]
