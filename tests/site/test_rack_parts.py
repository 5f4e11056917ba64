"""An NVL72 rack's NVLink switch trays and power shelves: in the catalog and the BMC plan."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from gigafactory.errors import SiteFileError
from gigafactory.planning.plan import plan
from gigafactory.policy.engine import evaluate
from gigafactory.site import catalog, load_site, parse_site
from gigafactory.site.addressing import rack_block_findings
from gigafactory.site.load import address_plan_fits
from tests.conftest import KIND, NARVIK


def test_nvl72_racks_have_switch_trays_and_power_shelves_with_sources() -> None:
    for sku in ("gb200-nvl72", "gb300-nvl72"):
        s = catalog.skus()[sku]
        assert (s.nodes_per_rack, s.switch_trays_per_rack, s.power_shelves_per_rack) == (18, 9, 8)
        assert "9 NVLink switch trays" in s.rack_parts_source
    for s in catalog.skus().values():
        assert s.rack_parts_source.strip() and s.burnin_floors_source.strip(), s.id
    assert catalog.skus()["dgx-h100"].switch_trays_per_rack == 0  # NVSwitches inside the node


def test_rack_bmc_addresses_follow_the_rack_position() -> None:
    pool = load_site(NARVIK).cluster("c1").pool("train")
    parts = {p.name: p for p in pool.rack_parts(42)}
    # BMC block 64 per position; hall-a BMC network 10.32.0.0/17
    # switch tray 1: 42 x 64 + 32 = 2,720 = 10 x 256 + 160
    assert parts["hall-a-r0042-nvsw01"].bmc_address == "10.32.10.160"
    assert parts["hall-a-r0042-nvsw01"].kind == "nvlink-switch-tray"
    # switch tray 9: 42 x 64 + 32 + 8 = 2,728 = 10 x 256 + 168
    assert parts["hall-a-r0042-nvsw09"].bmc_address == "10.32.10.168"
    # power shelf 8: 42 x 64 + 48 + 7 = 2,743 = 10 x 256 + 183
    assert parts["hall-a-r0042-ps08"].bmc_address == "10.32.10.183"
    assert parts["hall-a-r0042-ps08"].kind == "power-shelf"
    assert len(parts) == 9 + 8
    # tray in slot 7: BMC 42 x 64 + 7 = 2,695 = 10 x 256 + 135; management 42 x 32 + 7 = 1,351 = 5 x 256 + 71
    node = pool.node(41 * 18 + 6)
    assert (node.name, node.address, node.bmc_address) == ("hall-a-r0042-n07", "10.16.5.71", "10.32.10.135")


def test_every_bmc_of_a_rack_is_distinct_and_inside_the_racks_block() -> None:
    pool = load_site(NARVIK).cluster("c1").pool("train")
    block = ipaddress.IPv4Network("10.32.10.128/26")  # rack 42: offsets 2,688-2,751
    trays = [pool.node(41 * 18 + i).bmc_address for i in range(18)]
    others = [p.bmc_address for p in pool.rack_parts(42)]
    addresses = trays + others
    assert len(set(addresses)) == 18 + 9 + 8 == 35
    assert all(ipaddress.IPv4Address(a) in block for a in addresses)
    assert str(block.network_address) not in addresses  # offset 0: the rack switch


def test_pool_lists_the_parts_of_every_rack_and_cpu_racks_have_none() -> None:
    site = load_site(NARVIK)
    train = site.cluster("c1").pool("train")
    assert len(train.all_rack_parts()) == 232 * (9 + 8) == 3_944
    assert site.cluster("c1").pool("system").all_rack_parts() == []
    with pytest.raises(IndexError, match="racks 1-232, not 233"):
        train.rack_parts(233)


def test_narvik_bmc_network_of_a_slash_18_is_too_small(narvik_data: dict[str, Any]) -> None:
    # (256 positions + 1) x 64 + 3 control-plane hosts + 1 = 16,452 > 16,384 addresses of a /18
    narvik_data["halls"][0]["bmc_cidr"] = "10.32.0.0/18"
    site = parse_site(narvik_data, "n.yaml")
    (v,) = [x for x in evaluate(site, plan(site)) if x.rule == "address-plan-capacity"]
    assert v.subject == "hall/hall-a"
    assert "bmc_cidr 10.32.0.0/18 has 16384 addresses; (256 rack positions + 1) x 64" in v.message
    assert "need 16452: use a prefix of /17 or shorter" in v.message
    with pytest.raises(SiteFileError, match=r"bmc_cidr 10\.32\.0\.0/18 has 16384 addresses"):
        address_plan_fits(site)


def test_management_blocks_stay_32_addresses(narvik_data: dict[str, Any]) -> None:
    # (256 + 1) x 32 + 3 + 1 = 8,228: fits a /19 (8,192)? no; a /18 (16,384) yes
    narvik_data["halls"][0]["mgmt_cidr"] = "10.16.0.0/19"
    site = parse_site(narvik_data, "n.yaml")
    (v,) = [x for x in evaluate(site, plan(site)) if x.rule == "address-plan-capacity"]
    assert "mgmt_cidr 10.16.0.0/19 has 8192 addresses" in v.message and "need 8228" in v.message


def test_reference_sites_fit_their_address_plans() -> None:
    for path in (NARVIK, KIND):
        address_plan_fits(load_site(path))


def test_a_rack_with_more_parts_than_a_block_holds_is_a_finding() -> None:
    sku = catalog.skus()["gb300-nvl72"].model_copy(update={"switch_trays_per_rack": 17})
    assert list(rack_block_findings(sku)) == [
        "SKU gb300-nvl72 has 17 NVLink switch trays per rack; a rack block has room for 16"
    ]
    assert list(rack_block_findings(catalog.skus()["gb300-nvl72"])) == []
