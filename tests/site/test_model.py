"""Site model: loading, computed pool properties, and every error path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gigafactory.errors import SiteFileError
from gigafactory.site import load_site, parse_site
from gigafactory.site.load import format_loc
from gigafactory.site.model import (
    GPU_TAINT_KEY,
    LABEL_HALL,
    LABEL_POOL,
    LABEL_RACK,
    LABEL_ROLE,
    LABEL_SU,
    Taint,
)
from tests.conftest import KIND, NARVIK

Writer = Callable[[Any], Path]


def _error(write_site: Writer, data: Any) -> SiteFileError:
    path = write_site(data)
    with pytest.raises(SiteFileError) as info:
        load_site(path)
    err = info.value
    assert str(path) in str(err), "the error names the file"
    assert "\n" not in str(err), "the error is one line"
    return err


# --- the reference sites ----------------------------------------------------------------


def test_narvik_loads_with_six_clusters_of_three_pools() -> None:
    site = load_site(NARVIK)
    assert [c.name for c in site.clusters] == ["c1", "c2", "c3", "c4", "c5", "c6"]
    assert all([p.name for p in c.pools] == ["train", "system", "storage"] for c in site.clusters)


def test_gb300_pool_counts_come_from_the_sku() -> None:
    pool = load_site(NARVIK).cluster("c1").pool("train")
    # 232 racks x 18 compute trays per NVL72 rack = 4,176 nodes; x 4 GPUs per tray = 16,704 GPUs
    assert pool.rack_count == 232
    assert pool.node_count == 232 * 18 == 4176
    assert pool.gpus_per_node == 4
    assert pool.gpus == 4176 * 4 == 16704


def test_pool_given_in_nodes_rounds_racks_up() -> None:
    pool = load_site(KIND).cluster("dev").pool("gpu")
    # 2 trays of an 18-tray NVL72 rack: ceil(2 / 18) = 1 rack, 2 x 4 = 8 GPUs
    assert (pool.node_count, pool.rack_count, pool.gpus) == (2, 1, 8)


def test_gpu_pool_is_tainted_and_labelled() -> None:
    pool = load_site(NARVIK).cluster("c2").pool("train")
    assert pool.taints == (Taint(GPU_TAINT_KEY, "present", "NoSchedule"),)
    assert pool.labels[LABEL_POOL] == "train"
    assert pool.labels["gigafactory.io/cluster"] == "c2"
    assert pool.labels["gigafactory.io/gpu"] == "true"
    assert [t.kubelet() for t in pool.taints] == ["nvidia.com/gpu=present:NoSchedule"]


def test_system_pool_is_untainted_and_storage_pool_is_tainted() -> None:
    c1 = load_site(NARVIK).cluster("c1")
    assert c1.pool("system").taints == ()
    assert c1.pool("storage").taints == (Taint(LABEL_ROLE, "storage", "NoSchedule"),)


def test_node_placement_follows_racks_slots_and_scalable_units() -> None:
    pool = load_site(NARVIK).cluster("c1").pool("train")
    last = pool.node_placement(4175)
    # node 4175: rack offset 4175 // 18 = 231 -> position 1 + 231 = 232; slot 4175 % 18 + 1 = 18;
    # SU of 8 racks: (232 - 1) // 8 + 1 = 29
    assert (last.rack_position, last.slot, last.rack, last.su) == (232, 18, "hall-a-r0232", "hall-a-su029")
    first = pool.node_labels(0)
    assert (first[LABEL_HALL], first[LABEL_SU], first[LABEL_RACK]) == (
        "hall-a",
        "hall-a-su001",
        "hall-a-r0001",
    )
    with pytest.raises(IndexError):
        pool.node_placement(4176)


def test_first_rack_defaults_to_after_the_previous_pool_in_the_hall() -> None:
    dev = load_site(KIND).cluster("dev")
    # system: 1 node of a 16-node CPU rack -> rack 1; the GPU pool follows at rack 2
    assert dev.pool("system").first_rack_position == 1
    assert dev.pool("gpu").first_rack_position == 2


def test_topology_levels_end_with_hostname() -> None:
    pool = load_site(NARVIK).cluster("c1").pool("train")
    assert pool.topology_levels == [LABEL_HALL, LABEL_SU, LABEL_RACK, "kubernetes.io/hostname"]


def test_format_loc_writes_index_paths() -> None:
    assert format_loc(("clusters", 2, "pools", 0, "sku")) == "clusters[2].pools[0].sku"


# --- error paths --------------------------------------------------------------------------


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SiteFileError, match="no such file"):
        load_site(tmp_path / "nope.yaml")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(SiteFileError, match="is a directory"):
        load_site(tmp_path)


def test_broken_yaml_names_line(write_site: Writer) -> None:
    err = _error(write_site, "name: x\ngrid: [unclosed\n")
    assert "not valid YAML at line" in str(err)


def test_duplicate_key_is_an_error(write_site: Writer) -> None:
    err = _error(write_site, "name: a\nname: b\n")
    assert "duplicate key 'name'" in str(err)


def test_top_level_must_be_a_mapping(write_site: Writer) -> None:
    err = _error(write_site, "- a\n- b\n")
    assert "expected a mapping" in str(err)


def test_unknown_sku_names_path_and_allowed(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    narvik_data["clusters"][2]["pools"][0]["sku"] = "gb400-nvl144"
    err = _error(write_site, narvik_data)
    assert err.path == "clusters[2].pools[0].sku"
    assert "'gb400-nvl144' is not a known SKU" in err.message
    assert "gb300-nvl72" in err.message and "dgx-h100" in err.message


def test_unknown_zone(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    narvik_data["grid"]["zone"] = "XX-YY"
    err = _error(write_site, narvik_data)
    assert err.path == "grid.zone"
    assert "NO-NO4" in err.message


def test_unknown_key_lists_allowed_keys(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    narvik_data["clusters"][0]["pools"][1]["gpu_count"] = 8
    err = _error(write_site, narvik_data)
    assert err.path == "clusters[0].pools[1].gpu_count"
    assert "unknown key; allowed: name, role, sku, hall, racks, nodes, first_rack" in err.message


def test_wrong_type_names_the_value(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    narvik_data["clusters"][1]["pools"][0]["racks"] = "232"
    err = _error(write_site, narvik_data)
    assert err.path == "clusters[1].pools[0].racks"
    assert "'232'" in err.message  # strict: no silent string-to-int coercion


def test_missing_required_key(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    del narvik_data["power"]["design_pue"]
    err = _error(write_site, narvik_data)
    assert (err.path, err.message) == ("power.design_pue", "required key is missing")


def test_negative_racks_rejected(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    narvik_data["clusters"][0]["pools"][0]["racks"] = -1
    err = _error(write_site, narvik_data)
    assert err.path == "clusters[0].pools[0].racks"
    assert "greater than 0" in err.message


def test_cooling_must_be_liquid_or_air(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    narvik_data["halls"][3]["cooling"] = "water"
    err = _error(write_site, narvik_data)
    assert err.path == "halls[3].cooling"
    assert "'liquid' or 'air'" in err.message


def test_racks_and_nodes_are_exclusive(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    narvik_data["clusters"][0]["pools"][0]["nodes"] = 10
    err = _error(write_site, narvik_data)
    assert err.path == "clusters[0].pools[0]"
    assert "exactly one of racks or nodes" in err.message


def test_training_pool_needs_gpu_sku(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    narvik_data["clusters"][0]["pools"][0]["sku"] = "cpu-2u"
    err = _error(write_site, narvik_data)
    assert "needs a GPU SKU" in err.message


def test_pool_hall_must_exist(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    narvik_data["clusters"][4]["pools"][2]["hall"] = "hall-z"
    err = _error(write_site, narvik_data)
    assert err.path == "clusters[4].pools[2].hall"
    assert "allowed: hall-a, hall-b" in err.message


def test_overlapping_racks_rejected(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    # system pool of c1 moved onto rack 200, inside train's racks 1-232
    narvik_data["clusters"][0]["pools"][1]["first_rack"] = 200
    err = _error(write_site, narvik_data)
    assert err.path == "clusters[0].pools[1].first_rack"
    assert "racks 200-202 of hall 'hall-a' overlap racks 1-232 of c1/train" in err.message


def test_active_phase_must_exist(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    narvik_data["power"]["active_phase"] = "phase-9"
    err = _error(write_site, narvik_data)
    assert err.path == "power.active_phase"
    assert "allowed: phase-1, phase-2, phase-3" in err.message


def test_phases_are_cumulative(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    narvik_data["power"]["phases"][2]["mw"] = 100
    err = _error(write_site, narvik_data)
    assert err.path == "power.phases"
    assert "cumulative" in err.message


def test_bad_names_rejected(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    narvik_data["clusters"][0]["name"] = "C_1"
    err = _error(write_site, narvik_data)
    assert err.path == "clusters[0].name"
    assert "lowercase letters, digits and '-'" in err.message


def test_bad_cidr_rejected(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    narvik_data["halls"][0]["mgmt_cidr"] = "10.16.0.1/18"  # host bits set
    err = _error(write_site, narvik_data)
    assert err.path == "halls[0].mgmt_cidr"


def test_duplicate_cluster_names(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    narvik_data["clusters"][1]["name"] = "c1"
    err = _error(write_site, narvik_data)
    assert err.path == "clusters[1]"
    assert "'c1' appears twice" in err.message


def test_tenant_quota_must_name_a_gpu_pool(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    narvik_data["tenants"][0]["quotas"][0]["pool"] = "system"
    err = _error(write_site, narvik_data)
    assert err.path == "tenants[0].quotas[0].pool"
    assert "allowed: train" in err.message


def test_unknown_switch(write_site: Writer, narvik_data: dict[str, Any]) -> None:
    narvik_data["clusters"][0]["fabric"]["switch"] = "spectrum-x"
    err = _error(write_site, narvik_data)
    assert err.path == "clusters[0].fabric.switch"
    assert "quantum-2, quantum-x800" in err.message


def test_parse_site_counts_further_errors(narvik_data: dict[str, Any]) -> None:
    narvik_data["name"] = 5
    narvik_data["commitments"]["gpus"] = "many"
    with pytest.raises(SiteFileError, match=r"\(and 1 more error\)"):
        parse_site(narvik_data, "x.yaml")
