"""The inventory from the site model: hand-computed host counts, addresses, groups; the CLI and
the Ansible inventory plugin agree."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from gigafactory.baremetal.inventory import build
from gigafactory.errors import AddressPlanError
from gigafactory.planning.plan import plan
from gigafactory.policy.engine import evaluate
from gigafactory.policy.rule import Violation
from gigafactory.site import load_site
from gigafactory.site.addressing import control_plane_hosts
from gigafactory.site.model import Site
from tests.ansible.conftest import PLAYBOOKS, REPO, VENV_BIN, ansible_env

NARVIK = REPO / "sites" / "narvik.yaml"
KIND = REPO / "sites" / "kind.yaml"


@pytest.fixture(scope="module")
def narvik_c1() -> dict[str, object]:
    return build(load_site(NARVIK), "c1").ansible_list()


def test_nvl72_pool_has_18_hosts_per_rack(narvik_c1: dict[str, object]) -> None:
    inv = build(load_site(NARVIK), "c1")
    merged = inv.merged_hostvars()
    train = [h for h, v in merged.items() if v.get("gigafactory_pool") == "train"]
    assert len(train) == 232 * 18
    system = [h for h, v in merged.items() if v.get("gigafactory_pool") == "system"]
    assert len(system) == 3 * 16
    assert len(inv.groups["rack_hall_a_r0042"].hosts) == 18


def test_addresses_follow_rack_position_and_slot() -> None:
    hv = build(load_site(NARVIK), "c1").merged_hostvars()
    # hall-a mgmt 10.16.0.0/18: rack 42 block starts at 42 * 32 = 1344 = 10.16.5.64; slot 7 -> .71.
    assert hv["hall-a-r0042-n07"]["gigafactory_address"] == "10.16.5.71"
    # hall-a BMC 10.32.0.0/17, 64-address blocks: 42 * 64 + 7 = 2695 = 10 * 256 + 135 -> 10.32.10.135.
    assert hv["hall-a-r0042-n07"]["gigafactory_bmc_address"] == "10.32.10.135"
    assert len({v["gigafactory_address"] for v in hv.values()}) == len(hv)


def test_host_names_are_stable_when_racks_are_added(tmp_path: Path) -> None:
    site = load_site(NARVIK)
    before = build(site, "c1").merged_hostvars()
    grown = yaml.safe_load(NARVIK.read_text())
    grown["clusters"][0]["pools"][0]["racks"] = 236
    path = tmp_path / "narvik-grown.yaml"
    path.write_text(yaml.safe_dump(grown))
    after = build(load_site(path), "c1").merged_hostvars()
    for host, hv in before.items():
        assert after[host]["gigafactory_address"] == hv["gigafactory_address"], host
    assert len(after) == len(before) + 4 * 18


def test_groups_and_control_plane(narvik_c1: dict[str, object]) -> None:
    assert narvik_c1["kube_control_plane"] == {"children": ["cluster_c1_control_plane"]}
    assert narvik_c1["cluster_c1_control_plane"] == {"hosts": ["c1-cp1", "c1-cp2", "c1-cp3"]}
    assert "pool_c1_train" in narvik_c1["gpu_nodes"]["children"]  # type: ignore[index]
    assert "pool_c1_system" not in narvik_c1["gpu_nodes"]["children"]  # type: ignore[index]
    cps = [c for c in control_plane_hosts(load_site(NARVIK)) if c.cluster == "c1"]
    assert [c.address for c in cps] == ["10.16.63.254", "10.16.63.253", "10.16.63.252"]


def test_host_vars_carry_model_labels_and_taints(narvik_c1: dict[str, object]) -> None:
    site = load_site(NARVIK)
    pool = site.cluster("c1").pool("train")
    hv = narvik_c1["_meta"]["hostvars"]["hall-a-r0009-n03"]  # type: ignore[index]
    index = 8 * 18 + 2
    assert hv["gigafactory_node_labels"] == pool.node_labels(index)
    assert [f"{t['key']}={t['value']}:{t['effect']}" for t in hv["gigafactory_taints"]] == [
        t.kubelet() for t in pool.taints
    ]
    assert hv["gigafactory_gpus"] == 4
    assert hv["gigafactory_su"] == pool.node_placement(index).su


def test_gpu_hosts_register_with_the_untested_taint(narvik_c1: dict[str, object]) -> None:
    hv = narvik_c1["_meta"]["hostvars"]["hall-a-r0009-n03"]  # type: ignore[index]
    assert hv["gigafactory_registration_taints"] == [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
        {"key": "gigafactory.io/untested", "value": "true", "effect": "NoSchedule"},
    ]


def test_gb300_hosts_get_the_coherent_driver_memory_mode(narvik_c1: dict[str, object]) -> None:
    """GB300 trays (catalog coherent_gpu_memory_mode: driver); CPU hosts leave the default."""
    hostvars = narvik_c1["_meta"]["hostvars"]  # type: ignore[index]
    assert hostvars["hall-a-r0009-n03"]["gigafactory_coherent_gpu_memory_mode"] == "driver"
    cpu = [h for h, v in hostvars.items() if v.get("gigafactory_gpus") == 0]
    assert cpu and {hostvars[h]["gigafactory_coherent_gpu_memory_mode"] for h in cpu} == {""}


def test_small_cidr_fails_address_plan_rule(tmp_path: Path) -> None:
    def address_violations(site: Site) -> list[Violation]:
        return [v for v in evaluate(site, plan(site)) if v.rule == "address-plan-capacity"]

    data = yaml.safe_load(KIND.read_text())
    assert address_violations(load_site(KIND)) == []
    # (4 rack positions + block 0) x 32 + 1 control-plane host + 1 = 162 addresses; a /26 has 64
    data["halls"][0]["mgmt_cidr"] = "10.250.0.0/26"
    path = tmp_path / "kind-small.yaml"
    path.write_text(yaml.safe_dump(data))
    violations = address_violations(load_site(path))
    assert [v.level for v in violations] == ["mandatory"]
    assert "mgmt_cidr 10.250.0.0/26 has 64 addresses" in violations[0].message
    assert "need 162" in violations[0].message and violations[0].subject == "hall/lab"
    # The gpu pool's second tray sits in rack 2, slot 2: offset 2 x 32 + 2 = 66, past a /26's 62 hosts.
    with pytest.raises(AddressPlanError, match="offset 66"):
        load_site(path).cluster("dev").pool("gpu").node_addresses(1)


def test_cli_prints_the_ansible_inventory_list_shape() -> None:
    proc = subprocess.run(
        [str(VENV_BIN / "gigafactory"), "inventory", str(KIND), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(proc.stdout)
    assert set(data["_meta"]["hostvars"]) == {"dev-cp1", "lab-r0001-n01", "lab-r0002-n01", "lab-r0002-n02"}
    assert data["rack_lab_r0002"]["hosts"] == ["lab-r0002-n01", "lab-r0002-n02"]
    as_yaml = subprocess.run(
        [str(VENV_BIN / "gigafactory"), "inventory", str(KIND), "-f", "yaml", "-c", "dev"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert yaml.safe_load(as_yaml.stdout) == data
    bad = subprocess.run(
        [str(VENV_BIN / "gigafactory"), "inventory", str(KIND), "-c", "nope"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "no cluster 'nope'" in bad.stderr


def _plain(value: object) -> object:
    """Drop ansible-inventory's unsafe-string wrappers."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def test_plugin_matches_the_cli() -> None:
    proc = subprocess.run(
        [
            str(VENV_BIN / "ansible-inventory"),
            "-i",
            str(PLAYBOOKS / "inventory" / "kind.gigafactory_site.yml"),
            "--list",
        ],
        capture_output=True,
        text=True,
        env=ansible_env(),
        check=True,
    )
    plugin = _plain(json.loads(proc.stdout))
    assert isinstance(plugin, dict)
    cli = build(load_site(KIND)).ansible_list()
    assert plugin["_meta"]["hostvars"] == cli["_meta"]["hostvars"]
    for group in ("rack_lab_r0002", "cluster_dev_control_plane"):
        assert plugin[group]["hosts"] == cli[group]["hosts"]


def test_plugin_scoped_to_a_cluster_loads_only_it() -> None:
    proc = subprocess.run(
        [
            str(VENV_BIN / "ansible"),
            "-i",
            str(PLAYBOOKS / "inventory" / "narvik-c1.gigafactory_site.yml"),
            "all",
            "--list-hosts",
        ],
        capture_output=True,
        text=True,
        env=ansible_env(),
        check=True,
    )
    assert f"hosts ({232 * 18 + 3 * 16 + 2 * 16 + 3})" in proc.stdout


def test_provision_writes_a_plugin_config_ansible_reads(tmp_path: Path) -> None:
    from gigafactory.baremetal.provision import site_inventory_config

    config = site_inventory_config(KIND, "dev", tmp_path)
    proc = subprocess.run(
        [str(VENV_BIN / "ansible"), "-i", str(config), "gpu_nodes", "--list-hosts"],
        capture_output=True,
        text=True,
        env=ansible_env(),
        check=True,
    )
    assert "hosts (2)" in proc.stdout and "lab-r0002-n02" in proc.stdout


def _inventory_list(config: Path, **env: str) -> object:
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-inventory"), "-i", str(config), "--list", "--export"],
        capture_output=True,
        text=True,
        env=ansible_env(**env),
        check=True,
    )
    return _plain(json.loads(proc.stdout))


def test_plugin_fast_path_gives_the_public_api_inventory() -> None:
    config = PLAYBOOKS / "inventory" / "kind.gigafactory_site.yml"
    fast = _inventory_list(config)
    public = _inventory_list(config, GIGAFACTORY_INVENTORY_PUBLIC_API="1")
    assert fast == public
    graph = subprocess.run(
        [str(VENV_BIN / "ansible"), "-i", str(config), "gpu_nodes:&hall_lab", "--list-hosts"],
        capture_output=True,
        text=True,
        env=ansible_env(),
        check=True,
    )
    assert "hosts (2)" in graph.stdout, graph.stdout


def test_plugin_cache_gives_the_built_inventory_and_follows_the_site_file(tmp_path: Path) -> None:
    site = tmp_path / "kind.yaml"
    site.write_text(KIND.read_text())
    cached = tmp_path / "cached.gigafactory_site.yml"
    cached.write_text(f"plugin: gigafactory_site\nsite: {site}\n")
    uncached = tmp_path / "uncached.gigafactory_site.yml"
    uncached.write_text(f"plugin: gigafactory_site\nsite: {site}\nbuild_cache: false\n")
    cache_dir = tmp_path / "cache"
    built = _inventory_list(cached, GIGAFACTORY_CACHE_DIR=str(cache_dir))
    assert len(list((cache_dir / "inventory").glob("*.json"))) == 1
    assert _inventory_list(cached, GIGAFACTORY_CACHE_DIR=str(cache_dir)) == built
    assert _inventory_list(uncached, GIGAFACTORY_CACHE_DIR=str(tmp_path / "unused")) == built
    assert not (tmp_path / "unused").exists()
    # A changed site file is a new key: the change shows at once.
    data = yaml.safe_load(site.read_text())
    data["clusters"][0]["pools"][0]["name"] = "cpu2"
    site.write_text(yaml.safe_dump(data))
    changed = _inventory_list(cached, GIGAFACTORY_CACHE_DIR=str(cache_dir))
    assert isinstance(changed, dict) and "pool_dev_cpu2" in changed and "pool_dev_cpu2" not in built  # type: ignore[operator]
