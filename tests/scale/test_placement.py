"""Topology-aware placement on the full-size c1 simulator, with Kueue's TAS for real: the
Topology, ResourceFlavor and ClusterQueue of pool train are made by the session fixture from the
specs the stack's components use (gigafactory.site.kueue, through gigafactory.sim.placement),
c1 before its tenant is onboarded (the pool's queue owns all its GPUs), and each test makes its own
namespace and LocalQueue (a platform namespace) or tenant (namespace, ClusterQueue owning its
contract, LocalQueue; the pool's queue gives those GPUs up meanwhile), and removes them.

c1's pool train: 232 racks of 18 trays x 4 GPUs = 72 GPUs a rack; 29 SUs of 8 racks =
8 x 72 = 576 GPUs an SU; 232 x 72 = 16,704 GPUs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gigafactory.sim import placement as pl
from gigafactory.site.model import GPU_RESOURCE, LABEL_RACK, LABEL_SU, Tenant
from gigafactory.site.spec import TenantQuota
from tests.scale.conftest import Scale

pytestmark = pytest.mark.scale

POOL = "train"
RACK_PODS, GPUS_PER_POD = 18, 4
SU_PODS = 8 * RACK_PODS  # 144 pods x 4 GPUs = 576 GPUs, one scalable unit
ADMIT_TIMEOUT = 120.0


def _namespace_with_queue(c1: Scale, name: str) -> list[dict[str, Any]]:
    """A platform namespace (no tenant label) with a LocalQueue on pool train's ClusterQueue."""
    return [
        # Kueue manages the jobs of namespaces that opt in (components/scheduling.py).
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": {"gigafactory.io/kueue": "true"}},
        },
        {
            "apiVersion": pl.KUEUE_API,
            "kind": "LocalQueue",
            "metadata": {"name": "train", "namespace": name},
            "spec": {"clusterQueue": c1.cluster.pool(POOL).kueue_name},
        },
    ]


@pytest.fixture
def platform_ns(c1: Scale, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"scale-{request.node.name.replace('_', '-')[:40]}"
    objects = _namespace_with_queue(c1, name)
    pl.apply(c1.api, objects)
    yield name
    pl.delete(c1.api, objects)


def _workload(c1: Scale, ns: str, job: str) -> dict[str, Any] | None:
    return next((w for w in pl.workloads(c1.api, ns) if pl.job_of(w) == job), None)


def _run(c1: Scale, ns: str, job: str, pods: int) -> pl.Placement:
    """Wait until the job's workload is admitted and all its pods are bound; their placement."""
    pl.wait(
        lambda: (w := _workload(c1, ns, job)) is not None and pl.admitted(w), ADMIT_TIMEOUT, f"{job} admitted"
    )

    def bound() -> pl.Placement | None:
        p = pl.placement(c1.api, ns, job, c1.labels)
        return p if p.bound == pods else None

    result: pl.Placement = pl.wait(bound, ADMIT_TIMEOUT, f"{job}: {pods} pods bound")
    return result


def test_a_one_rack_job_lands_on_exactly_one_rack(c1: Scale, platform_ns: str) -> None:
    pl.submit(c1.api, [pl.job("rack", platform_ns, "train", RACK_PODS, GPUS_PER_POD, LABEL_RACK)])
    placed = _run(c1, platform_ns, "rack", RACK_PODS)
    assert len(placed.racks) == 1, placed.racks
    assert len(set(placed.nodes)) == RACK_PODS  # 18 pods x 4 GPUs fill the rack's 18 trays
    (rack,) = placed.racks
    assert set(placed.nodes) == {n for n, labels in c1.labels.items() if labels.get(LABEL_RACK) == rack}


def test_a_one_su_job_lands_inside_one_su(c1: Scale, platform_ns: str) -> None:
    pl.submit(c1.api, [pl.job("su", platform_ns, "train", SU_PODS, GPUS_PER_POD, LABEL_SU)])
    placed = _run(c1, platform_ns, "su", SU_PODS)
    assert len(placed.sus) == 1, placed.sus
    assert len(placed.racks) == 8 and len(set(placed.nodes)) == SU_PODS


def test_a_job_larger_than_any_su_stays_pending_with_kueues_reason(c1: Scale, platform_ns: str) -> None:
    # 145 pods x 4 = 580 GPUs required inside one SU of 576: quota (16,704) is enough, topology is not.
    pl.submit(c1.api, [pl.job("too-big", platform_ns, "train", SU_PODS + 1, GPUS_PER_POD, LABEL_SU)])

    def pending_reason() -> str:
        w = _workload(c1, platform_ns, "too-big")
        c = pl.condition(w, "QuotaReserved") if w else None
        return str(c.get("message", "")) if c and c.get("status") == "False" else ""

    message = pl.wait(pending_reason, ADMIT_TIMEOUT, "too-big pending with a reason")
    w = _workload(c1, platform_ns, "too-big")
    assert w is not None and not pl.admitted(w)
    assert "topology" in message.lower() or "fit" in message.lower(), message
    assert pl.placement(c1.api, platform_ns, "too-big", c1.labels).pods == 0  # still suspended


def test_a_tenants_jobs_never_exceed_its_quota(c1: Scale) -> None:
    # Onboarding a tenant with a contract of 144 GPUs (two racks: 2 x 72) moves them from the
    # pool's queue (16,704 - 144 = 16,560) to the tenant's, as the stack does
    # (gigafactory.site.kueue). Three one-rack jobs (72 GPUs each): two run (144 GPUs), the
    # third waits on quota although the pool has thousands of idle GPUs: a tenant never borrows
    # beyond its contract (borrowingLimit 0).
    tenant = Tenant(name="scale-quota", cluster="c1", group="g", quotas=[TenantQuota(pool=POOL, gpus=144)])
    pool_queues = pl.pool_queues(c1.cluster, [tenant])
    assert _nominal(pool_queues[0]) == 232 * 72 - 144  # 16,560
    objects = pl.tenant_objects(c1.cluster, tenant)
    assert _nominal(objects[1]) == 144
    pl.apply(c1.api, pool_queues, update=True)
    pl.apply(c1.api, objects)
    ns, queue = tenant.namespace, pl.local_queue(tenant)
    try:
        pl.submit(c1.api, [pl.job(f"j{i}", ns, queue, RACK_PODS, GPUS_PER_POD, LABEL_RACK) for i in range(3)])

        def settled() -> list[dict[str, Any]] | None:
            ws = pl.workloads(c1.api, ns)
            done = [
                w
                for w in ws
                if pl.admitted(w) or (pl.condition(w, "QuotaReserved") or {}).get("status") == "False"
            ]
            return ws if len(ws) == 3 and len(done) == 3 else None

        ws: list[dict[str, Any]] = pl.wait(settled, ADMIT_TIMEOUT, "three workloads admitted or pending")
        admitted = [w for w in ws if pl.admitted(w)]
        pending = [w for w in ws if not pl.admitted(w)]
        assert len(admitted) == 2 and len(pending) == 1
        used = sum(
            int(res.get(GPU_RESOURCE, "0"))
            for w in admitted
            for ps in w["status"]["admission"]["podSetAssignments"]
            for res in [ps.get("resourceUsage") or {}]
        )
        assert used == 144  # 2 x 72 = the contract
        message = str((pl.condition(pending[0], "QuotaReserved") or {}).get("message", ""))
        assert "quota" in message.lower(), message
    finally:
        pl.delete(c1.api, objects)
        # The pool's queue gets the GPUs back (no tenant onboarded): 16,704.
        pl.apply(c1.api, pl.pool_queues(c1.cluster, []), update=True)


def _nominal(queue: dict[str, Any]) -> int:
    """The GPU nominal quota of a ClusterQueue with one flavor."""
    (group,) = queue["spec"]["resourceGroups"]
    (flavor,) = group["flavors"]
    (resource,) = flavor["resources"]
    return int(resource["nominalQuota"])
