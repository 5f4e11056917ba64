"""The load pipeline's steps (decode, defaults, resolve, validate) and placed pools."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gigafactory.errors import SiteFileError
from gigafactory.site import load_site, parse_site
from gigafactory.site.load import decode, read, set_defaults
from gigafactory.site.model import Pool
from gigafactory.site.spec import KNOWN_API_VERSIONS, PoolSpec
from tests.conftest import KIND, NARVIK

Writer = Callable[[Any], Path]


def _error(data: dict[str, Any]) -> SiteFileError:
    with pytest.raises(SiteFileError) as info:
        parse_site(data, "x.yaml")
    assert "\n" not in str(info.value)
    return info.value


def test_a_pool_built_alone_cannot_emit_labels_without_its_site() -> None:
    hall = load_site(KIND).halls[0]
    with pytest.raises(ValueError, match="needs its site"):
        Pool(
            name="gpu",
            role="training",
            sku="gb300-nvl72",
            site="",
            cluster="dev",
            hall_spec=hall,
            node_count=2,
            first_rack_position=1,
        )
    spec = PoolSpec(name="gpu", role="training", sku="gb300-nvl72", hall="lab", nodes=2)
    assert not hasattr(spec, "labels"), "a pool as written has no labels: only placed pools do"


def test_placed_pool_carries_its_context() -> None:
    pool = load_site(NARVIK).cluster("c3").pool("train")
    assert (pool.site, pool.cluster, pool.hall) == ("narvik", "c3", "hall-c")
    # c3/train: 29 SUs x 8 racks = 232 racks from position 1 -> racks 1..232
    assert (pool.first_rack_position, pool.last_rack_position) == (1, 232)
    assert pool.labels["gigafactory.io/site"] == "narvik"


def test_unknown_api_version_lists_the_known_ones(narvik_data: dict[str, Any]) -> None:
    narvik_data["apiVersion"] = "gigafactory.io/v9"
    err = _error(narvik_data)
    assert err.path == "apiVersion"
    assert "'gigafactory.io/v9' is not a known version" in err.message
    assert f"allowed: {', '.join(KNOWN_API_VERSIONS)}" in err.message


def test_missing_api_version_and_wrong_kind(narvik_data: dict[str, Any]) -> None:
    data = dict(narvik_data)
    del data["apiVersion"]
    assert _error(data).path == "apiVersion"
    narvik_data["kind"] = "Cluster"
    err = _error(narvik_data)
    assert err.path == "kind" and "allowed: Site" in err.message


def test_defaults_are_explicit_after_set_defaults() -> None:
    spec = set_defaults(decode(read(KIND), str(KIND)))
    dev = spec.clusters[0]
    # system pool (1 cpu-2u node = 1 rack) takes rack 1, so gpu starts at rack 2
    assert [p.first_rack for p in dev.pools] == [1, 2]
    assert dev.control_plane.hall == "lab"  # the first pool's hall
    assert dev.fabric.switch == "quantum-x800"  # gb300-nvl72's default switch (hardware catalog)
    assert spec.grid.data_year == 2025  # latest year with both carbon and renewable data


def test_derived_names_that_collide_are_refused(kind_data: dict[str, Any]) -> None:
    # cluster "a-b" pool "c" and cluster "a" pool "b-c" both map to Kueue objects named "a-b-c"
    base = kind_data["clusters"][0]
    first = {**base, "name": "a-b", "pools": [{**base["pools"][1], "name": "c"}]}
    second = {**base, "name": "a", "pools": [{**base["pools"][1], "name": "b-c", "first_rack": 3}]}
    kind_data["clusters"] = [first, second]
    kind_data["tenants"] = []
    err = _error(kind_data)
    assert err.path == "clusters[1].pools[0]"
    # the Ansible group pool_a_b_c collides first (the Kueue name a-b-c would too)
    assert "cluster 'a-b' pool 'c' (clusters[0].pools[0]) and cluster 'a' pool 'b-c'" in err.message
    assert "both become Ansible group 'pool_a_b_c'" in err.message


def test_overlapping_hall_networks_are_refused(narvik_data: dict[str, Any]) -> None:
    narvik_data["halls"][1]["bmc_cidr"] = "10.16.0.0/16"  # contains hall-a's 10.16.0.0/18
    err = _error(narvik_data)
    assert err.path == "halls[1].bmc_cidr"
    assert "overlaps halls[0].mgmt_cidr" in err.message


@pytest.mark.parametrize(
    ("cidr", "what"),
    [("127.0.0.0/24", "loopback"), ("224.0.0.0/24", "multicast"), ("169.254.0.0/24", "link-local")],
)
def test_special_ranges_are_refused(narvik_data: dict[str, Any], cidr: str, what: str) -> None:
    narvik_data["halls"][0]["mgmt_cidr"] = cidr
    err = _error(narvik_data)
    assert err.path == "halls[0].mgmt_cidr" and what in err.message


def test_a_name_with_a_trailing_newline_is_refused(narvik_data: dict[str, Any]) -> None:
    narvik_data["clusters"][0]["name"] = "c1\n"
    err = _error(narvik_data)
    assert err.path == "clusters[0].name" and "not a valid name" in err.message


def test_a_boolean_is_never_an_integer(narvik_data: dict[str, Any]) -> None:
    narvik_data["commitments"]["gpus"] = True
    assert _error(narvik_data).path == "commitments.gpus"


def test_blank_tenant_group_is_refused(narvik_data: dict[str, Any]) -> None:
    narvik_data["tenants"][0]["group"] = "   "
    err = _error(narvik_data)
    assert err.path == "tenants[0].group" and "blank" in err.message
