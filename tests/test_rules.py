"""Site policy rules: each rule passes on the reference site and fails on a mutated one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gigafactory.errors import PolicyConfigError
from gigafactory.planning.plan import plan
from gigafactory.policy.engine import default_policy, evaluate, has_mandatory, load_policy
from gigafactory.policy.rule import Violation
from gigafactory.policy.site_rules import SITE_RULES
from gigafactory.site import parse_site
from tests.conftest import KIND, NARVIK, site_data

Mutation = Callable[[dict[str, Any]], None]


def _violations(data: dict[str, Any]) -> list[Violation]:
    site = parse_site(data, "test.yaml")
    return evaluate(site, plan(site))


def _set(path: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        node[parts[-1]] = value

    return mutate


def _no_evidence(data: dict[str, Any]) -> None:
    del data["grid"]["renewable_evidence"]  # left out: the rule's finding (blank text is an input error)


def _gpu_pools_in_air_hall(data: dict[str, Any]) -> None:
    data["halls"][0]["cooling"] = "air"


def _big_cluster(data: dict[str, Any]) -> None:
    # c1 train 232 -> 272 racks (34 SUs): 272 x 18 = 4,896 trays + 80 CPU nodes = 4,976 <= 5,000;
    # 280 racks: 5,040 + 80 = 5,120 > 5,000
    data["clusters"][0]["pools"][0]["racks"] = 280
    data["halls"][0]["rack_positions"] = 400
    for pool, first in ((1, 281), (2, 284)):
        data["clusters"][0]["pools"][pool]["first_rack"] = first


def _fabric_too_big(data: dict[str, Any]) -> None:
    # Quantum-2 (k = 64) holds 64^3/4 = 65,536 GPUs in three tiers. 8,200 DGX H100 x 8 = 65,600 GPUs,
    # designed for whole SUs: ceil(8,200 / 32) = 257 SUs x 32 x 8 = 65,792 > 65,536. 8,200 / 4 = 2,050 racks.
    data["halls"][0].update(cooling="air", max_rack_kw=60, rack_positions=3000)
    data["clusters"][0]["pools"][0] = {
        "name": "train",
        "role": "training",
        "sku": "dgx-h100",
        "hall": "hall-a",
        "nodes": 8200,
        "first_rack": 1,
    }
    data["clusters"][0]["pools"][1]["first_rack"] = 2100
    data["clusters"][0]["pools"][2]["first_rack"] = 2104
    data["clusters"][0]["fabric"]["switch"] = "quantum-2"
    data["clusters"][0]["kubernetes_node_limit_exception"] = "test"
    # 8,200 + 48 + 32 = 8,280 nodes need more than the default /11's 8,192 node subnets of /24:
    # a /10 (10.128.0.0-10.191.255.255, clear of the halls and services) holds 16,384.
    data["clusters"][0]["kubernetes"] = {"pod_cidr": "10.128.0.0/10"}
    data["tenants"] = [t for t in data["tenants"] if t["cluster"] != "c1"]


def _pue_too_high(data: dict[str, Any]) -> None:
    # PUE 1.25 > 1.20; facility 208.176 x 1.25 = 260.2 MW, so widen the envelope to 300 MW
    # to keep the power rule quiet and this one failing alone
    data["power"]["design_pue"] = 1.25
    data["power"]["phases"][1]["mw"] = 300


def _overcommit_tenants(data: dict[str, Any]) -> None:
    # c1 train has 16,704 GPUs; two tenants promised 16,704 + 1
    data["tenants"].append(
        {
            "name": "extra",
            "cluster": "c1",
            "group": "g",
            "pkey": 0x0FFF,
            "quotas": [{"pool": "train", "gpus": 1}],
        }
    )


CASES: dict[str, Mutation] = {
    # DE: 342 g/kWh in 2025 > 100 g limit
    "region-grid-carbon-max": _set("grid.zone", "DE"),
    # SE-SE3: 64% renewable in 2025 < 90% (and 20 g/kWh, which passes the carbon rule)
    "region-renewable-share-min": _set("grid.zone", "SE-SE3"),
    "renewable-claim-evidence": _no_evidence,
    # 228.9936 MW facility vs a 228 MW phase
    "site-power-envelope": _set("power.phases.1.mw", 228),
    "design-pue-max": _pue_too_high,
    # GB300 rack 140 kW vs a 130 kW hall
    "rack-power-within-hall": _set("halls.0.max_rack_kw", 130),
    "liquid-cooling-required": _gpu_pools_in_air_hall,
    "heat-reuse-plan": _set("heat_reuse", None),
    "fabric-plane-size": _fabric_too_big,
    "k8s-cluster-size": _big_cluster,
    # 99,648 planned vs 99,000 contracted
    "gpu-commitment-cap": _set("commitments.gpus", 99_000),
    # c1 storage racks 245-246 vs a hall of 245 positions
    "hall-rack-positions": _set("halls.0.rack_positions", 245),
    # train pool of c2 starting on rack 3: racks 3-234 straddle 8-rack SU boundaries
    "whole-scalable-units": _set("clusters.1.pools.0.first_rack", 3),
    "tenant-quota-within-pool": _overcommit_tenants,
    # hall-a mgmt /20 = 4,096 addresses; (256 positions + 1) x 32 + 3 control-plane hosts + 1 = 8,228
    "address-plan-capacity": _set("halls.0.mgmt_cidr", "10.16.0.0/20"),
}


def test_every_rule_has_a_failing_case() -> None:
    assert set(CASES) == set(SITE_RULES)


def test_every_rule_has_config_with_a_source() -> None:
    cfg = default_policy()
    for name in SITE_RULES:
        assert cfg.rule(name).source.strip(), name


def test_narvik_passes_every_rule() -> None:
    assert _violations(site_data(NARVIK)) == []


def test_kind_site_passes_every_mandatory_rule() -> None:
    v = _violations(site_data(KIND))
    assert not has_mandatory(v)
    # 2 trays are 2/144 of a scalable unit: only the advisory whole-SU rule speaks
    assert [x.rule for x in v] == ["whole-scalable-units"]


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fails_on_mutated_site(rule: str) -> None:
    data = site_data(NARVIK)
    CASES[rule](data)
    fired = [v for v in _violations(data) if v.rule == rule]
    assert fired, f"{rule} did not fire"
    v = fired[0]
    assert v.level == default_policy().rule(rule).level
    assert v.subject and v.message


def test_carbon_rule_message_says_what_and_why() -> None:
    data = site_data(NARVIK)
    data["grid"]["zone"] = "US-MIDA-PJM"
    (v,) = [x for x in _violations(data) if x.rule == "region-grid-carbon-max"]
    assert v.subject == "grid/US-MIDA-PJM"
    assert "418 g CO2eq/kWh, above the 100 g limit" in v.message


def test_envelope_message_shows_the_arithmetic() -> None:
    data = site_data(NARVIK)
    data["power"]["phases"][1]["mw"] = 228
    (v,) = [x for x in _violations(data) if x.rule == "site-power-envelope"]
    assert "228.994 MW (IT 208.176 MW x PUE 1.1) exceeds the 228 MW" in v.message


def test_node_limit_exception_allows_up_to_7500() -> None:
    data = site_data(NARVIK)
    _big_cluster(data)
    data["clusters"][0]["kubernetes_node_limit_exception"] = "design review DR-42"
    assert [v for v in _violations(data) if v.rule == "k8s-cluster-size"] == []


def test_disabled_rule_is_skipped(tmp_path: Path) -> None:
    text = (Path(__file__).parents[1] / "gigafactory" / "data" / "policy.yaml").read_text()
    text = text.replace(
        "  region-grid-carbon-max:\n    level: mandatory", "  region-grid-carbon-max:\n    level: disabled"
    )
    cfg_file = tmp_path / "policy.yaml"
    cfg_file.write_text(text)
    data = site_data(NARVIK)
    data["grid"]["zone"] = "DE"
    site = parse_site(data)
    rules = {v.rule for v in evaluate(site, plan(site), load_policy(cfg_file))}
    assert "region-grid-carbon-max" not in rules
    assert "region-renewable-share-min" in rules  # DE is 60% renewable: still checked


def test_policy_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("version: '1'\nrules: {nope: {level: mandatory, source: x}}\n")
    with pytest.raises(PolicyConfigError, match=r"rules\.nope: unknown rule"):
        load_policy(bad)
    with pytest.raises(PolicyConfigError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")


def test_evidence_must_cover_the_annual_facility_consumption() -> None:
    # Narvik: facility 208.176 MW IT x PUE 1.10 = 228.9936 MW; x 8,760 h = 2,005,983.936 MWh a year
    data = site_data(NARVIK)
    data["grid"]["renewable_evidence"]["mwh"] = 2_005_983  # 0.936 MWh short
    (v,) = [x for x in _violations(data) if x.rule == "renewable-claim-evidence"]
    assert v.subject == "site/narvik"
    assert "covers 2,005,983 MWh, below 100% of the annual facility consumption of 2,005,984 MWh" in v.message
    assert "(228.994 MW x 8,760 h)" in v.message
    data["grid"]["renewable_evidence"]["mwh"] = 2_005_984
    assert [x for x in _violations(data) if x.rule == "renewable-claim-evidence"] == []
