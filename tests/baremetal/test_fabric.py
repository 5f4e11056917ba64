"""InfiniBand partitions: a validated pkey per tenant, and partitions.conf written from it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from gigafactory.baremetal.fabric import (
    DEFAULT_PARTITION,
    compute_nic_device_id,
    guid_pool,
    partitions,
    partitions_conf,
)
from gigafactory.cli import app
from gigafactory.errors import CatalogError, NotFoundError, SiteFileError
from gigafactory.site import load_site, parse_site
from gigafactory.site.catalog import skus
from tests.conftest import KIND, NARVIK


def _error(data: dict[str, Any]) -> SiteFileError:
    with pytest.raises(SiteFileError) as exc:
        parse_site(data, "n.yaml")
    assert "\n" not in str(exc.value)
    return exc.value


@pytest.mark.parametrize(
    ("pkey", "shown"),
    [(0x7FFF, "0x7fff"), (0, "0x0000"), (0x8000, "0x8000"), (0x8101, "0x8101")],
)
def test_pkey_must_be_15_bit_and_not_the_default(narvik_data: dict[str, Any], pkey: int, shown: str) -> None:
    narvik_data["tenants"][0]["pkey"] = pkey
    err = _error(narvik_data)
    assert err.path == "tenants[0].pkey"
    assert f"{shown} is not a tenant partition key; allowed: a 15-bit partition key 0x0001-0x7ffe" in str(err)


def test_pkey_is_unique_in_the_site(narvik_data: dict[str, Any]) -> None:
    narvik_data["tenants"][3]["pkey"] = 0x0101  # msft-c1's
    err = _error(narvik_data)
    assert err.path == "tenants[3].pkey"
    assert "0x0101 is tenant 'msft-c1''s partition key too" in str(err)


def test_a_bare_metal_tenant_needs_a_pkey(narvik_data: dict[str, Any]) -> None:
    del narvik_data["tenants"][1]["pkey"]
    err = _error(narvik_data)
    assert err.path == "tenants[1].pkey"
    assert "required for a tenant of a bare-metal cluster" in str(err)


def test_a_laptop_tenant_may_go_without_a_pkey_and_gets_no_partition(kind_data: dict[str, Any]) -> None:
    del kind_data["tenants"][0]["pkey"]
    site = parse_site(kind_data)
    assert partitions(site) == []
    assert "# no tenant partitions: no tenant of every cluster of the site has a pkey" in partitions_conf(
        site
    )


def test_pkey_written_in_hex_in_the_site_file_is_read() -> None:
    # sites/narvik.yaml writes 0x0101 ... 0x0201; YAML reads hex integers
    assert [(t.name, t.pkey) for t in load_site(NARVIK).tenants] == [
        ("msft-c1", 257),
        ("msft-c2", 258),
        ("msft-c3", 259),
        ("research", 513),
    ]


def test_partitions_conf_of_one_cluster() -> None:
    text = partitions_conf(load_site(NARVIK), "c1")
    body = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert body == [
        "Default=0x7fff, ipoib, defmember=full : ALL, SELF=full;",
        "msft-c1=0x0101, ipoib, defmember=full : SELF=full;",
    ]
    # c1 train: 232 racks x 18 trays x 4 GPUs = 16,704 GPUs, all msft-c1's
    assert (
        "#   pool train: 16,704 GPUs on nodes <rack>-n01 to -n18 of racks hall-a-r0001 to hall-a-r0232"
        in text
    )
    assert "port GUIDs are not in the site model" in text


def test_partitions_conf_of_the_site_has_one_partition_per_tenant_with_a_pkey() -> None:
    text = partitions_conf(load_site(NARVIK))
    defs = re.findall(r"^([A-Za-z0-9-]+)=(0x[0-9a-f]{4}),", text, re.MULTILINE)
    assert defs == [
        ("Default", "0x7fff"),
        ("msft-c1", "0x0101"),
        ("msft-c2", "0x0102"),
        ("msft-c3", "0x0103"),
        ("research", "0x0201"),
    ]
    assert text.count(DEFAULT_PARTITION) == 1
    # every non-comment line is one OpenSM partition definition ending in ';'
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(
                r"[A-Za-z0-9-]+=0x[0-9a-f]{4}, ipoib, defmember=full : [A-Z_=, a-z]+;", line
            ), line


def test_a_cluster_without_tenants_has_only_the_default_partition() -> None:
    text = partitions_conf(load_site(NARVIK), "c4")
    assert [line for line in text.splitlines() if line and not line.startswith("#")] == [DEFAULT_PARTITION]


def test_unknown_cluster_names_the_clusters() -> None:
    with pytest.raises(NotFoundError, match="no cluster 'c9' in site 'narvik'; allowed: c1, c2"):
        partitions(load_site(NARVIK), "c9")


def test_cli_prints_partitions_conf_and_refuses_an_unknown_cluster(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["fabric-partitions", str(NARVIK), "--cluster", "c6"])
    assert ok.exit_code == 0, ok.output
    assert "research=0x0201, ipoib, defmember=full : SELF=full;" in ok.output
    assert "msft-c1" not in ok.output
    bad = runner.invoke(app, ["fabric-partitions", str(KIND), "--cluster", "nope"])
    assert bad.exit_code == 2  # the CLI's one error handler: one line naming the clusters there are
    assert "no cluster 'nope' in site 'laptop'; allowed: dev" in bad.stderr
    data = yaml.safe_load(KIND.read_text())
    data["tenants"][0]["pkey"] = 0x7FFF
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    refused = runner.invoke(app, ["fabric-partitions", str(path)])
    assert refused.exit_code == 2
    assert f"{path}: tenants[0].pkey: " in refused.stderr


def test_every_gpu_sku_has_a_compute_nic_with_a_pci_id() -> None:
    """The SR-IOV policy selects compute rails by PCI ID: ConnectX-7 is 15b3:1021, ConnectX-8
    15b3:1023 (PCI ID repository). Every GPU SKU of the catalog must resolve."""
    by_family = {"ConnectX-7": "1021", "ConnectX-8": "1023"}
    for sku in skus().values():
        if sku.is_gpu:
            family = sku.nic.split()[0]
            assert compute_nic_device_id(sku) == by_family[family], sku.id


def test_an_unknown_nic_family_is_refused_by_name() -> None:
    sku = skus()["gb300-nvl72"].model_copy(update={"nic": "BlueField-3 400G"})
    with pytest.raises(CatalogError, match=r"gb300-nvl72: nic 'BlueField-3 400G'.*ConnectX-7, ConnectX-8"):
        compute_nic_device_id(sku)


def test_clusters_of_a_site_get_disjoint_guid_pools() -> None:
    site = load_site(NARVIK)
    pools = [guid_pool(site, c) for c in site.clusters]
    # c1..c6 in site-file order: 02:01:... to 02:06:..., each 2^48 GUIDs wide.
    assert pools[0] == ("02:01:00:00:00:00:00:00", "02:01:ff:ff:ff:ff:ff:ff")
    assert pools[5] == ("02:06:00:00:00:00:00:00", "02:06:ff:ff:ff:ff:ff:ff")
    assert len({start for start, _ in pools}) == len(site.clusters) == 6
