"""Rack parts (NVLink switch trays, power shelves) as an opt-in inventory addition."""

from __future__ import annotations

from gigafactory.baremetal.inventory import build
from gigafactory.baremetal.rack_parts import add_rack_parts, rack_parts
from gigafactory.site import load_site
from tests.conftest import KIND, NARVIK


def test_rack_parts_join_their_own_groups_only() -> None:
    site = load_site(KIND)  # 1 GB300 rack position in use (2 trays in rack 2) + a CPU rack
    inv = add_rack_parts(build(site, "dev"), site, "dev")
    listing = inv.ansible_list()
    assert listing["rack_parts"]["children"] == ["nvlink_switch_trays", "power_shelves"]
    trays = listing["nvlink_switch_trays"]["hosts"]
    assert trays == [f"lab-r0002-nvsw{i:02d}" for i in range(1, 10)]
    assert listing["power_shelves"]["hosts"] == [f"lab-r0002-ps{i:02d}" for i in range(1, 9)]
    # never in a cluster, pool or rack group that node playbooks target
    node_groups = [
        g
        for g, v in listing.items()
        if g not in ("_meta", "rack_parts", "nvlink_switch_trays", "power_shelves")
    ]
    for g in node_groups:
        assert not set(listing[g].get("hosts", [])) & set(trays), g
    # lab BMC 10.251.0.0/23: rack 2, switch tray 1 at 2 x 64 + 32 = 160
    hostvars = listing["_meta"]["hostvars"]
    assert hostvars["lab-r0002-nvsw01"]["gigafactory_bmc_address"] == "10.251.0.160"
    assert hostvars["lab-r0002-nvsw01"]["ansible_connection"] == "local"  # plays talk to the BMC
    assert "ansible_connection" not in hostvars["lab-r0002-n01"]


def test_narvik_cluster_has_17_parts_per_gb300_rack() -> None:
    # c1: 232 GB300 racks x (9 switch trays + 8 power shelves) = 3,944; CPU racks have none
    assert len(rack_parts(load_site(NARVIK), "c1")) == 232 * 17 == 3_944
