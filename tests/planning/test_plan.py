"""Capacity planning: figures computed by hand from FACTS.md and the site files."""

from __future__ import annotations

from typing import Any

import pytest

from gigafactory.planning.plan import fabric_size, plan
from gigafactory.site import catalog, load_site, parse_site
from tests.conftest import KIND, NARVIK, site_data

# FACTS.md section 3: NVL72 = 18 trays x 4 GPUs; planning power 2.08 kW/GPU -> 150 kW/rack
NVL72_TRAYS, TRAY_GPUS, NVL72_KW = 18, 4, 150.0
CPU_NODES_PER_RACK, CPU_RACK_KW = 16, 16 * 1.2  # hardware catalog cpu-2u: 16 x 1.2 kW


def test_narvik_totals_by_hand() -> None:
    p = plan(load_site(NARVIK))
    gpu_racks = 5 * 232 + 224  # c1-c5 29 SUs x 8 racks, c6 28 x 8
    assert gpu_racks == 1384 == 173 * 8
    cpu_racks = 6 * (3 + 2)  # system + storage per cluster
    assert p.gpus == gpu_racks * NVL72_TRAYS * TRAY_GPUS == 99_648
    assert p.nodes == gpu_racks * NVL72_TRAYS + cpu_racks * CPU_NODES_PER_RACK == 24_912 + 480
    assert p.racks == gpu_racks + cpu_racks == 1414
    it_mw = (gpu_racks * NVL72_KW + cpu_racks * CPU_RACK_KW) / 1000  # 207.6 + 0.576
    assert p.it_mw == pytest.approx(208.176)
    assert p.it_mw == pytest.approx(it_mw)
    assert p.facility_mw == pytest.approx(208.176 * 1.10)  # 228.9936 MW
    assert p.envelope_mw == 230
    assert p.headroom_mw == pytest.approx(230 - 228.9936)


def test_narvik_grid_figures_are_the_2025_catalog_values() -> None:
    p = plan(load_site(NARVIK))
    # FACTS.md section 2, NO-NO4: 49 g/kWh and 95% renewable in 2025
    assert (p.zone, p.carbon_g_per_kwh, p.renewable_share) == ("NO-NO4", 49, 0.95)


def test_grid_data_year_selects_catalog_year() -> None:
    data = site_data(NARVIK)
    data["grid"]["data_year"] = 2024
    p = plan(parse_site(data))
    assert (p.carbon_g_per_kwh, p.renewable_share) == (55, 0.93)  # NO-NO4, 2024


def test_every_narvik_cluster_is_under_the_kubernetes_node_limit() -> None:
    for c in plan(load_site(NARVIK)).clusters:
        assert c.nodes <= 5000, c.name
    # c1: 232 x 18 = 4,176 trays + 48 system + 32 storage
    assert plan(load_site(NARVIK)).clusters[0].nodes == 4176 + 48 + 32 == 4256


def test_narvik_fabric_per_cluster_by_hand() -> None:
    c1 = plan(load_site(NARVIK)).clusters[0].fabric
    n, k = 16_704, 144  # c1 GPUs (one NIC each), Quantum-X800 radix
    assert n > k * k // 2  # 10,368: does not fit two tiers
    assert (c1.tiers, c1.leaf, c1.spine, c1.core) == (3, 2 * n // k, 2 * n // k, n // k) == (3, 232, 232, 116)
    assert c1.switches == 580
    assert c1.cables == 3 * n == 50_112
    assert c1.fits and c1.max_endpoints == 144**3 // 4 == 746_496


@pytest.mark.parametrize(
    ("gpus", "leaf", "spine", "core"),
    [
        # NVIDIA DGX SuperPOD B200 RA table (FACTS.md section 4), Quantum-2 radix 64
        (4_096, 128, 128, 64),
        (16_384, 512, 512, 256),
    ],
)
def test_fabric_matches_nvidia_b200_table(gpus: int, leaf: int, spine: int, core: int) -> None:
    f = fabric_size(gpus, catalog.switches()["quantum-2"])
    assert (f.tiers, f.leaf, f.spine, f.core) == (3, leaf, spine, core)
    assert f.cables == 3 * gpus


def test_b200_superpod_from_a_site_matches_the_table() -> None:
    data = site_data(KIND)
    data["halls"][0].update(cooling="air", max_rack_kw=60, rack_positions=200)
    # 16 SUs x 32 DGX B200 = 512 nodes x 8 GPUs = 4,096 GPUs
    data["clusters"][0]["pools"][1] = {
        "name": "gpu",
        "role": "training",
        "sku": "dgx-b200",
        "hall": "lab",
        "nodes": 512,
    }
    data["tenants"] = []
    c = plan(parse_site(data)).clusters[0]
    assert c.gpus == 512 * 8 == 4096
    assert (c.fabric.switch, c.fabric.leaf, c.fabric.spine, c.fabric.core) == ("quantum-2", 128, 128, 64)


def test_fabric_tier_limits_for_both_radixes() -> None:
    q2, x800 = catalog.switches()["quantum-2"], catalog.switches()["quantum-x800"]
    # k = 64: 2-tier max 64^2/2 = 2,048; 3-tier max 64^3/4 = 65,536
    assert fabric_size(2_048, q2).tiers == 2
    assert fabric_size(2_049, q2).tiers == 3
    assert fabric_size(65_536, q2).fits and not fabric_size(65_537, q2).fits
    # k = 144: 2-tier max 10,368; 3-tier max 746,496
    assert fabric_size(10_368, x800).tiers == 2 and fabric_size(10_369, x800).tiers == 3
    assert fabric_size(746_496, x800).fits and not fabric_size(746_497, x800).fits
    # two tiers at 2,048 GPUs: leaf 2N/k = 64, spine N/k = 32
    f = fabric_size(2_048, q2)
    assert (f.leaf, f.spine, f.core, f.cables) == (64, 32, 0, 2 * 2_048)


def test_fabric_is_designed_for_whole_scalable_units() -> None:
    c = plan(load_site(KIND)).clusters[0]
    # 2 GB300 trays = 8 GPUs installed; the fabric is built for the full SU of 576 GPUs
    assert c.fabric.endpoints == 8
    assert c.fabric.design_endpoints == 8 * 18 * 4 == 576
    # 576 <= 144^2/2: two tiers, leaf 2*576/144 = 8, spine 576/144 = 4
    assert (c.fabric.tiers, c.fabric.leaf, c.fabric.spine) == (2, 8, 4)


def test_cluster_without_gpus_has_no_fabric() -> None:
    data: dict[str, Any] = site_data(KIND)
    data["clusters"][0]["pools"] = [data["clusters"][0]["pools"][0]]
    data["tenants"] = []
    f = plan(parse_site(data)).clusters[0].fabric
    assert (f.tiers, f.switches, f.cables) == (0, 0, 0)


def test_pool_scalable_units_and_alignment() -> None:
    c1 = plan(load_site(NARVIK)).clusters[0]
    train = c1.pools[0]
    assert train.scalable_units == 232 / 8 == 29 and train.su_aligned
    data = site_data(NARVIK)
    data["clusters"][0]["pools"][0]["first_rack"] = 2  # racks 2-233: straddles SU boundaries
    assert not plan(parse_site(data)).clusters[0].pools[0].su_aligned
