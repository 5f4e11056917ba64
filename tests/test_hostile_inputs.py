"""Hostile and careless site files (issue 10, classes 1-4) end in exit 2 and one short line.

Hostile files (special files, huge, deep, alias bombs) are refused before they are built;
names fully match their pattern; booleans are never integers; meaningful text is never blank;
two entities that map to one derived identifier make the site invalid; address plans stay
inside ordinary, non-overlapping private networks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from gigafactory.cli import app
from gigafactory.errors import GigafactoryError
from tests.conftest import KIND, REPO, site_data

runner = CliRunner()
MAX_MESSAGE = 400  # characters: a message never formats a whole oversized value

WriteSite = Callable[[Any], Path]


def _refused(path: Path | str, command: str = "plan") -> str:
    """Exit 2 and one short line (a GigafactoryError is what main() prints as that line)."""
    res = runner.invoke(app, [command, str(path)])
    if isinstance(res.exception, GigafactoryError):
        code, err = 2, f"gigafactory: error: {res.exception}"
    else:
        assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
        code, err = res.exit_code, res.stderr.strip()
    assert code == 2, (command, code, res.output[-500:])
    assert len(err.splitlines()) == 1, err[:1000]
    assert len(err) < MAX_MESSAGE, err[:1000]
    return err


def _refused_in_subprocess(path: Path | str) -> str:
    """For files that would block or never end if opened: a hang fails by timeout."""
    proc = subprocess.run(
        [sys.executable, "-c", "from gigafactory.cli import main; main()", "plan", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr[-500:]
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr[-1000:]
    return proc.stderr


# ---------------------------------------------------------------------------------------
# 1. Hostile files
# ---------------------------------------------------------------------------------------


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "site.yaml"
    os.mkfifo(fifo)
    _refused_in_subprocess(fifo)


def test_dev_zero_is_refused_without_reading_forever() -> None:
    _refused_in_subprocess("/dev/zero")


def test_a_folder_is_refused(tmp_path: Path) -> None:
    _refused(tmp_path)


def test_a_5_mb_file_is_refused_and_not_echoed(write_site: WriteSite) -> None:
    err = _refused(write_site("description: " + "x" * (5 * 1024 * 1024) + "\n"))
    assert "xxxxxxxxxx" not in err


def test_a_large_single_value_is_never_echoed_whole(write_site: WriteSite) -> None:
    data = site_data(KIND)
    data["name"] = "n" * 100_000
    err = _refused(write_site(data))
    assert "n" * 1000 not in err


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 10_000 + "]" * 10_000,
        "a: " + "{b: " * 5_000 + "1" + "}" * 5_000,
        "a:\n" + "".join("  " * i + "- \n" for i in range(1, 200)),
    ],
    ids=["deep-flow-lists", "deep-flow-maps", "deep-block-lists"],
)
def test_deep_nesting_is_refused_before_it_is_built(text: str, write_site: WriteSite) -> None:
    _refused(write_site(text))


def test_a_yaml_alias_bomb_is_refused(write_site: WriteSite) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    _refused(write_site("\n".join(lines) + "\n"))


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe\x00n\x00a", b"name: \xe9t\xe9\n", b"\x00\x00\x00", b"", b"   \n", b"- just\n- a list\n"],
    ids=["utf16-bom", "latin1", "nul-bytes", "empty", "blank", "a-list"],
)
def test_undecodable_or_shapeless_files_are_refused(raw: bytes, tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_bytes(raw)
    _refused(path)


def test_duplicate_keys_are_refused(write_site: WriteSite) -> None:
    text = KIND.read_text(encoding="utf-8") + "\nname: again\n"
    err = _refused(write_site(text))
    assert "duplicate" in err


# ---------------------------------------------------------------------------------------
# 2. Names, booleans, blank text, unknown keys
# ---------------------------------------------------------------------------------------


def _mutated(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = site_data(KIND)
    change(data)
    return data


NAME_CASES: dict[str, Any] = {  # a change to the kind site, or a pytest.param of one
    "cluster name with trailing newline": lambda d: d["clusters"][0].update(name="dev\n"),
    "hall name with trailing newline": lambda d: d["halls"][0].update(name="lab\n"),
    "pool name with trailing newline": lambda d: d["clusters"][0]["pools"][1].update(name="gpu\n"),
    "tenant name with trailing newline": lambda d: d["tenants"][0].update(name="demo\n"),
    "site name with trailing newline": lambda d: d.update(name="laptop\n"),
    "cluster name with leading newline": lambda d: d["clusters"][0].update(name="\ndev"),
    "cluster name upper case": lambda d: d["clusters"][0].update(name="Dev"),
    "cluster name with underscore": lambda d: d["clusters"][0].update(name="d_ev"),
    "cluster name with a dot": lambda d: d["clusters"][0].update(name="d.ev"),
    "cluster name ends with dash": lambda d: d["clusters"][0].update(name="dev-"),
    "cluster name empty": lambda d: d["clusters"][0].update(name=""),
    "cluster name too long": lambda d: d["clusters"][0].update(name="d" * 64),
    "cluster name unicode": lambda d: d["clusters"][0].update(name="dév"),
    "nodes as boolean": lambda d: d["clusters"][0]["pools"][1].update(nodes=True),
    "rack positions as boolean": lambda d: d["halls"][0].update(rack_positions=True),
    "commitment gpus as boolean": lambda d: d["commitments"].update(gpus=True),
    "quota gpus as boolean": lambda d: d["tenants"][0]["quotas"][0].update(gpus=True),
    "control-plane count as boolean": lambda d: d["clusters"][0]["control_plane"].update(count=True),
    "max rack kW as boolean": lambda d: d["halls"][0].update(max_rack_kw=True),
    "tenant group empty": lambda d: d["tenants"][0].update(group=""),
    "tenant group blank": lambda d: d["tenants"][0].update(group="   "),
    "tenant group newline": lambda d: d["tenants"][0].update(group="\n"),
    "renewable evidence blank": lambda d: d["grid"].update(renewable_evidence="  "),
    "renewable evidence empty": lambda d: d["grid"].update(renewable_evidence=""),
}


@pytest.mark.parametrize("change", NAME_CASES.values(), ids=NAME_CASES.keys())
def test_bad_names_booleans_and_blank_text_are_refused(
    change: Callable[[dict[str, Any]], None], write_site: WriteSite
) -> None:
    _refused(write_site(_mutated(change)))


@pytest.mark.parametrize(
    ("where", "key"),
    [
        ((), "colour"),
        (("halls", 0), "colour"),
        (("clusters", 0), "colour"),
        (("clusters", 0, "pools", 0), "colour"),
    ],
)
def test_unknown_keys_are_named_with_the_allowed_keys(
    where: tuple[Any, ...], key: str, write_site: WriteSite
) -> None:
    data = site_data(KIND)
    node: Any = data
    for part in where:
        node = node[part]
    node[key] = 1
    err = _refused(write_site(data))
    assert key in err and "allowed" in err, err


# ---------------------------------------------------------------------------------------
# 3. Derived identifiers that collide
# ---------------------------------------------------------------------------------------


def _two_clusters(first: str, first_pool: str, second: str, second_pool: str) -> dict[str, Any]:
    data = site_data(KIND)
    base = data["clusters"][0]
    a = yaml.safe_load(yaml.safe_dump(base))
    b = yaml.safe_load(yaml.safe_dump(base))
    a["name"], b["name"] = first, second
    a["pools"] = [p for p in a["pools"] if p["name"] == "system"] + [{**a["pools"][1], "name": first_pool}]
    b["pools"] = [p for p in b["pools"] if p["name"] == "system"] + [{**b["pools"][1], "name": second_pool}]
    b["pools"][0] = {**b["pools"][0], "name": "sys2"} if first_pool != "sys2" else b["pools"][0]
    data["clusters"] = [a, b]
    data["tenants"] = [{**data["tenants"][0], "cluster": first, "quotas": [{"pool": first_pool, "gpus": 8}]}]
    data["halls"][0]["rack_positions"] = 40
    return data


COLLISIONS: dict[str, Any] = {
    # pool_<cluster>_<pool>: pool_a_b_c twice (Ansible group), a-b-c twice (Kueue flavor name)
    "cluster a-b pool c vs cluster a pool b-c": ("a-b", "c", "a", "b-c"),
    # cluster_<c>_control_plane of cluster dev vs cluster_<c> of cluster dev-control-plane
    "control-plane group vs a cluster named like it": ("dev", "gpu", "dev-control-plane", "gpu"),
}


@pytest.mark.parametrize("names", COLLISIONS.values(), ids=COLLISIONS.keys())
def test_colliding_derived_names_make_the_site_invalid_naming_both(
    names: tuple[str, str, str, str], write_site: WriteSite
) -> None:
    err = _refused(write_site(_two_clusters(*names)))
    assert names[0] in err and names[2] in err, err


def test_two_pools_of_one_cluster_with_one_name_are_refused(write_site: WriteSite) -> None:
    data = site_data(KIND)
    pools = data["clusters"][0]["pools"]
    pools.append({**pools[1]})
    _refused(write_site(data))


def test_two_tenants_with_one_name_in_a_cluster_are_refused(write_site: WriteSite) -> None:
    data = site_data(KIND)
    data["tenants"].append({**data["tenants"][0], "group": "other"})
    _refused(write_site(data))


# ---------------------------------------------------------------------------------------
# 4. Address plans
# ---------------------------------------------------------------------------------------


def _second_hall(**fields: Any) -> dict[str, Any]:
    data = site_data(KIND)
    data["halls"].append({**data["halls"][0], "name": "lab2", **fields})
    return data


ADDRESS_CASES: dict[str, dict[str, Any]] = {
    "two halls, one management network": _second_hall(bmc_cidr="10.252.0.0/24"),
    "two halls, one BMC network": _second_hall(mgmt_cidr="10.252.0.0/24"),
    "a hall's BMC network inside another's management": _second_hall(
        mgmt_cidr="10.253.0.0/24", bmc_cidr="10.250.0.128/25"
    ),
    "a hall's networks overlap each other": _mutated(
        lambda d: d["halls"][0].update(bmc_cidr="10.250.0.0/25")
    ),
    "management network is loopback": _mutated(lambda d: d["halls"][0].update(mgmt_cidr="127.0.0.0/24")),
    "BMC network is multicast": _mutated(lambda d: d["halls"][0].update(bmc_cidr="224.0.0.0/24")),
    "management network is link-local": _mutated(lambda d: d["halls"][0].update(mgmt_cidr="169.254.0.0/24")),
    "management network is reserved": _mutated(lambda d: d["halls"][0].update(mgmt_cidr="240.0.0.0/24")),
    "management network is 0.0.0.0/24": _mutated(lambda d: d["halls"][0].update(mgmt_cidr="0.0.0.0/24")),
    "network with host bits": _mutated(lambda d: d["halls"][0].update(mgmt_cidr="10.250.0.1/24")),
    "not a network": _mutated(lambda d: d["halls"][0].update(mgmt_cidr="10.250.0.0/33")),
    "network too small for the racks": _mutated(lambda d: d["halls"][0].update(mgmt_cidr="10.250.0.0/30")),
}


@pytest.mark.parametrize("data", ADDRESS_CASES.values(), ids=ADDRESS_CASES.keys())
def test_bad_address_plans_never_pass_check_and_inventory_refuses_them(
    data: dict[str, Any], write_site: WriteSite
) -> None:
    """`check` fails the site (a mandatory rule, exit 1, or invalid input, exit 2) and
    `inventory` never prints its hosts."""
    path = write_site(data)
    res = runner.invoke(app, ["check", str(path)])
    code = 2 if isinstance(res.exception, GigafactoryError) else res.exit_code
    assert code in (1, 2), (code, res.output[-500:])
    _refused(path, "inventory")
