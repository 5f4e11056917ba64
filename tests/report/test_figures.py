"""The report's figures against the model: shapes are counted through their SVG ids and
their sizes compared with the plan (figures.py documents the ids)."""

from __future__ import annotations

import functools
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gigafactory.planning.plan import SitePlan, plan
from gigafactory.policy.config import PolicyConfig
from gigafactory.policy.engine import load_policy
from gigafactory.report import figures
from gigafactory.site import load_site
from gigafactory.site.catalog import zones
from gigafactory.site.model import Site
from tests.conftest import KIND, NARVIK, site_data

SVG = "{http://www.w3.org/2000/svg}"
Writer = Callable[[Any], Path]


@functools.cache
def _narvik() -> tuple[Site, SitePlan, PolicyConfig]:
    site = load_site(NARVIK)
    return site, plan(site), load_policy(None)


def _groups(svg: str) -> dict[str, ET.Element]:
    """Every SVG element with an id, by id."""
    root = ET.fromstring(svg)
    return {el.attrib["id"]: el for el in root.iter() if "id" in el.attrib}


def _shapes(group: ET.Element) -> list[ET.Element]:
    """The drawn shapes of a group (paths outside <defs>, and <use> copies)."""
    defs = {id(el) for d in group.iter(f"{SVG}defs") for el in d.iter()}
    return [el for el in group.iter() if el.tag in (f"{SVG}path", f"{SVG}use") and id(el) not in defs]


def _extent(group: ET.Element) -> tuple[float, float]:
    """(width, height) of the first shape of a group, from its path data (user units)."""
    d = _shapes(group)[0].attrib["d"]
    nums = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", d)]
    xs, ys = nums[0::2], nums[1::2]
    return max(xs) - min(xs), max(ys) - min(ys)


def _fill(el: ET.Element) -> str:
    style = el.attrib.get("style", "")
    m = re.search(r"fill:\s*(#[0-9a-f]{6})", style)
    return m.group(1) if m else el.attrib.get("fill", "")


# --- floor maps ---------------------------------------------------------------------------


def test_floor_map_draws_one_rack_shape_per_position_of_each_hall() -> None:
    site, _, _ = _narvik()
    colours = figures.pool_colours(site)
    for hall in site.halls:
        ids = _groups(figures.floor_map(site, hall, colours).svg)
        racks = {k: len(_shapes(v)) for k, v in ids.items() if k.startswith(f"racks_{hall.name}_")}
        assert sum(racks.values()) == hall.rack_positions, hall.name  # 256 per Narvik hall
        used = 0
        for c in site.clusters:
            for p in c.pools:
                if p.hall == hall.name:
                    assert racks[f"racks_{hall.name}_{c.name}_{p.name}"] == p.rack_count, f"{c.name}/{p.name}"
                    used += p.rack_count
        # Narvik: 232 (or 224) GPU racks + 3 system + 2 storage; the rest of 256 is empty
        assert racks[f"racks_{hall.name}_empty"] == hall.rack_positions - used
        assert used in (232 + 3 + 2, 224 + 3 + 2)


def test_floor_map_colours_racks_by_cluster_and_pool() -> None:
    site, _, _ = _narvik()
    colours = figures.pool_colours(site)
    assert len(set(colours.values())) == len(colours) == 6 * 3  # every (cluster, pool) apart
    hall = site.hall("hall-c")
    ids = _groups(figures.floor_map(site, hall, colours).svg)
    for pool in ("train", "system", "storage"):
        fills = {_fill(el) for el in _shapes(ids[f"racks_hall-c_c3_{pool}"])}
        assert fills == {colours[("c3", pool)]}, pool
    assert {_fill(el) for el in _shapes(ids["racks_hall-c_empty"])} == {figures.EMPTY_COLOUR}


def test_floor_map_outlines_every_scalable_unit_of_gpu_pools() -> None:
    site, _, _ = _narvik()
    colours = figures.pool_colours(site)
    for c in site.clusters:
        train = c.pool("train")
        ids = _groups(figures.floor_map(site, site.hall(train.hall), colours).svg)
        # 232 racks / 8 racks per SU = 29 SUs (c6: 224 / 8 = 28); 32 positions per row hold
        # whole SUs, so none is split across rows. CPU pools get no outline.
        assert len(_shapes(ids[f"sus_{train.hall}_{c.name}_train"])) == math.ceil(train.rack_count / 8)
        assert f"sus_{train.hall}_{c.name}_system" not in ids


def test_floor_map_shows_each_clusters_control_plane_in_its_hall(write_site: Writer) -> None:
    data = site_data(NARVIK)
    data["clusters"][1]["control_plane"]["hall"] = "hall-a"  # c2's control plane moves to hall-a
    site = load_site(write_site(data))
    colours = figures.pool_colours(site)
    hall_a = _groups(figures.floor_map(site, site.hall("hall-a"), colours).svg)
    hall_b = _groups(figures.floor_map(site, site.hall("hall-b"), colours).svg)
    assert {k for k in hall_a if k.startswith("cp_")} == {"cp_hall-a_c1", "cp_hall-a_c2"}
    assert not [k for k in hall_b if k.startswith("cp_")]


def test_floor_map_of_a_small_hall_draws_every_position() -> None:
    site = load_site(KIND)  # one hall of 4 positions: system rack, GPU rack, 2 empty
    ids = _groups(figures.floor_map(site, site.hall("lab"), figures.pool_colours(site)).svg)
    assert len(_shapes(ids["racks_lab_dev_system"])) == 1
    assert len(_shapes(ids["racks_lab_dev_gpu"])) == 1
    assert len(_shapes(ids["racks_lab_empty"])) == 2


# --- power, fabric, grid, tenants ----------------------------------------------------------


def test_power_budget_has_one_bar_per_phase_split_by_pue() -> None:
    site, site_plan, _ = _narvik()
    ids = _groups(figures.power_budget(site, site_plan).svg)
    assert sorted(k for k in ids if k.endswith("_it")) == [
        "power_phase-1_it",
        "power_phase-2_it",
        "power_phase-3_it",
    ]
    for phase in ("phase-1", "phase-2", "phase-3"):
        _, it_h = _extent(ids[f"power_{phase}_it"])
        _, overhead_h = _extent(ids[f"power_{phase}_overhead"])
        # overhead / IT = PUE - 1 = 0.10 (208.176 MW IT, 20.818 MW overhead)
        assert overhead_h / it_h == pytest.approx(0.10, rel=1e-3), phase
        assert f"power_{phase}_allocation" in ids
    # facility 228.994 MW: over phase-1's 20 MW (no headroom bar), within 230 and 520 MW
    assert "power_phase-1_headroom" not in ids
    _, head2 = _extent(ids["power_phase-2_headroom"])
    _, head3 = _extent(ids["power_phase-3_headroom"])
    _, it_h = _extent(ids["power_phase-2_it"])
    assert head2 / it_h == pytest.approx((230 - 228.9936) / 208.176, rel=1e-2)
    assert head3 / it_h == pytest.approx((520 - 228.9936) / 208.176, rel=1e-3)


def test_fabric_draws_one_bar_per_tier_of_each_cluster() -> None:
    _, site_plan, _ = _narvik()
    ids = _groups(figures.fabric(site_plan).svg)
    for c in site_plan.clusters:
        bars = sorted(k.rsplit("_", 1)[1] for k in ids if k.startswith(f"fabric_{c.name}_"))
        assert bars == ["core", "leaf", "spine"], c.name  # three tiers each
        _, leaf = _extent(ids[f"fabric_{c.name}_leaf"])
        _, core = _extent(ids[f"fabric_{c.name}_core"])
        # leaf = 2N/k, core = N/k: c1 232 and 116 switches (N = 16,704, k = 144)
        assert leaf / core == pytest.approx(c.fabric.leaf / c.fabric.core, rel=1e-3)


def test_fabric_of_a_two_tier_cluster_has_no_core_bar() -> None:
    site = load_site(KIND)
    site_plan = plan(site)
    (c,) = site_plan.clusters
    ids = _groups(figures.fabric(site_plan).svg)
    bars = {k for k in ids if k.startswith("fabric_dev_")}
    assert len(bars) == c.fabric.tiers
    assert ("fabric_dev_core" in bars) == (c.fabric.tiers == 3)


def test_grid_figure_shows_every_catalog_zone_and_both_thresholds() -> None:
    site, site_plan, config = _narvik()
    ids = _groups(figures.grid(site, site_plan, config).svg)
    assert {k.removeprefix("grid_carbon_") for k in ids if k.startswith("grid_carbon_")} == set(zones())
    assert {k.removeprefix("grid_renewable_") for k in ids if k.startswith("grid_renewable_")} == set(zones())
    assert {"threshold_carbon", "threshold_renewable"} <= set(ids)
    assert _fill(_shapes(ids["grid_carbon_NO-NO4"])[0]) == figures.SITE_ZONE_COLOUR
    assert _fill(_shapes(ids["grid_carbon_DE"])[0]) == figures.OTHER_ZONE_COLOUR
    # bar lengths follow the catalog (2025): NO-NO4 49 g, DE 342 g
    no4, _ = _extent(ids["grid_carbon_NO-NO4"])
    de, _ = _extent(ids["grid_carbon_DE"])
    assert de / no4 == pytest.approx(342 / 49, rel=1e-3)


def test_tenant_quotas_split_each_gpu_pool_by_tenant() -> None:
    site, _, _ = _narvik()
    ids = _groups(figures.tenant_quotas(site).svg)
    quota = {k for k in ids if k.startswith("quota_")}
    assert {"quota_c1_train_msft-c1", "quota_c6_train_research", "quota_c6_train_unallocated"} <= quota
    assert "quota_c1_train_unallocated" not in quota  # msft-c1 holds all 16,704 GPUs of c1/train
    assert {k for k in quota if k.startswith("quota_c4_")} == {"quota_c4_train_unallocated"}
    research, _ = _extent(ids["quota_c6_train_research"])
    free, _ = _extent(ids["quota_c6_train_unallocated"])
    # research: 4,608 of c6's 16,128 GPUs (28.6 %); 11,520 unallocated
    assert research / (research + free) == pytest.approx(4608 / 16128, rel=1e-3)


def test_every_figure_renders_as_svg_and_png() -> None:
    site, site_plan, config = _narvik()
    figs = figures.all_figures(site, site_plan, config)
    # power, 6 halls, fabric, grid, tenants
    assert [f.name for f in figs] == [
        "power-budget",
        *(f"floor-{h.name}" for h in site.halls),
        "fabric",
        "grid",
        "tenant-quotas",
    ]
    for f in figs:
        assert f.png.startswith(b"\x89PNG\r\n\x1a\n"), f.name
        assert ET.fromstring(f.svg).tag == f"{SVG}svg", f.name


def test_floor_map_of_a_large_hall_widens_its_rows_and_draws_every_position(write_site: Writer) -> None:
    data = site_data(KIND)
    # 2,000 positions x at most 64 addresses each = 128,000: a /14 (262,144) holds them
    data["halls"][0].update(rack_positions=2000, mgmt_cidr="10.248.0.0/14", bmc_cidr="10.252.0.0/14")
    site = load_site(write_site(data))
    # isqrt(2 x 2,000) = 63, rounded up to a multiple of 8: 64 positions per row, 32 rows
    assert figures.floor_columns(2000) == 64
    assert figures.floor_columns(256) == figures.FLOOR_COLUMNS == 32
    assert figures.floor_columns(4) == 4
    fig = figures.floor_map(site, site.hall("lab"), figures.pool_colours(site))
    ids = _groups(fig.svg)
    assert sum(len(_shapes(v)) for k, v in ids.items() if k.startswith("racks_lab_")) == 2000
    assert len(_shapes(ids["racks_lab_empty"])) == 2000 - 2
    width_in = float(ET.fromstring(fig.svg).attrib["width"].removesuffix("pt")) / 72
    assert width_in <= figures.FLOOR_MAX_GRID_INCHES + 3  # the grid plus labels and control planes
