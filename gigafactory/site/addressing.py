"""The bare-metal address plan and host naming, computed from the site model.

Host naming (stable when racks are added, because it follows physical position, not order):
  - worker node: ``<rack>-n<slot:02d>``, e.g. ``hall-a-r0042-n07`` (rack name from the model:
    ``<hall>-r<position:04d>``; slot 1-based from the bottom of the rack);
  - control-plane host: ``<cluster>-cp<i>``, e.g. ``c1-cp1`` (i from 1).

Address plan (per hall; one block per rack position in each network):
  - the management network is cut into blocks of ``MGMT_ADDRESSES_PER_RACK`` (32) addresses and
    the BMC network into blocks of ``BMC_ADDRESSES_PER_RACK`` (64); block ``p`` belongs to rack
    position ``p`` (1-based), block 0 is for the hall's gateway and services, and offset 0 of
    each block is left for the rack's management switch. A rack's addresses depend only on its
    position, never on which pools exist;
  - compute node (tray) in slot ``s`` gets offset ``s`` (1..31) in both networks;
  - the rack's other managed parts have only a BMC: NVLink switch tray ``i`` (1-based) gets BMC
    offset ``SWITCH_TRAY_BMC_BASE + i - 1`` (32..47) and power shelf ``i`` gets
    ``POWER_SHELF_BMC_BASE + i - 1`` (48..62). A GB300 NVL72 rack uses 1 + 18 + 9 + 8 = 36 of
    its 64 BMC addresses (offsets 0, 1-18, 32-40, 48-55);
  - control-plane hosts take the top of the network, counted down from the last usable address,
    in cluster order of the site file then host index;
  - site rule ``address-plan-capacity`` (gigafactory.policy.site_rules) fails when a hall network cannot hold
    every rack position plus the control-plane hosts, or a SKU has more nodes, switch trays or
    power shelves per rack than a block has room for.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gigafactory.site import catalog

if TYPE_CHECKING:
    from gigafactory.site.model import Site

MGMT_ADDRESSES_PER_RACK = 32
"""Management addresses per rack position block: offset 0 for the rack switch, slots 1..31 for nodes."""
BMC_ADDRESSES_PER_RACK = 64
"""BMC addresses per rack position block: offset 0 for the rack switch, 1..31 for node BMCs,
32..47 for NVLink switch trays, 48..62 for power shelves (a /26 per rack position)."""
NODE_SLOTS = 31
"""Highest node slot a rack block has an address for."""
SWITCH_TRAY_BMC_BASE = 32
POWER_SHELF_BMC_BASE = 48
SWITCH_TRAY_SLOTS = POWER_SHELF_BMC_BASE - SWITCH_TRAY_BMC_BASE
"""NVLink switch trays a rack block has BMC addresses for (16)."""
POWER_SHELF_SLOTS = BMC_ADDRESSES_PER_RACK - 1 - POWER_SHELF_BMC_BASE
"""Power shelves a rack block has BMC addresses for (15; offset 63 stays free)."""


def worker_name(rack: str, slot: int) -> str:
    return f"{rack}-n{slot:02d}"


def control_plane_name(cluster: str, index: int) -> str:
    return f"{cluster}-cp{index}"


@dataclass(frozen=True, slots=True)
class ControlPlaneHost:
    name: str
    cluster: str
    hall: str
    address: str
    bmc_address: str


def switch_tray_name(rack: str, index: int) -> str:
    """BMC host name of NVLink switch tray ``index`` (1-based) of ``rack``."""
    return f"{rack}-nvsw{index:02d}"


def power_shelf_name(rack: str, index: int) -> str:
    """BMC host name of power shelf ``index`` (1-based) of ``rack``."""
    return f"{rack}-ps{index:02d}"


def rack_offset(position: int, slot: int, block: int = MGMT_ADDRESSES_PER_RACK) -> int:
    """Offset of ``slot`` of rack ``position`` in a hall network cut into ``block``-address blocks."""
    return position * block + slot


def control_plane_hosts(site: Site) -> list[ControlPlaneHost]:
    """Every control-plane host of the site, with addresses from the top of its hall's networks."""
    taken: dict[str, int] = {}
    hosts: list[ControlPlaneHost] = []
    for c in site.clusters:
        hall = site.hall(c.control_plane_hall)
        mgmt = ipaddress.IPv4Network(hall.mgmt_cidr)
        bmc = ipaddress.IPv4Network(hall.bmc_cidr)
        for i in range(1, c.control_plane_count + 1):
            k = taken.get(hall.name, 0)
            taken[hall.name] = k + 1
            hosts.append(
                ControlPlaneHost(
                    name=control_plane_name(c.name, i),
                    cluster=c.name,
                    hall=hall.name,
                    address=str(mgmt.broadcast_address - 1 - k),
                    bmc_address=str(bmc.broadcast_address - 1 - k),
                )
            )
    return hosts


def hall_network_needs(rack_positions: int, control_plane_hosts: int) -> dict[str, int]:
    """Addresses each hall network needs, by site-file key: block 0 plus one block per rack
    position, the control-plane hosts at the top, and the broadcast address."""
    return {
        "mgmt_cidr": (rack_positions + 1) * MGMT_ADDRESSES_PER_RACK + control_plane_hosts + 1,
        "bmc_cidr": (rack_positions + 1) * BMC_ADDRESSES_PER_RACK + control_plane_hosts + 1,
    }


def rack_block_findings(sku: catalog.Sku) -> Iterator[str]:
    """What of a SKU's rack does not fit one rack block (empty when it fits)."""
    for what, count, room in (
        ("nodes", sku.nodes_per_rack, NODE_SLOTS),
        ("NVLink switch trays", sku.switch_trays_per_rack, SWITCH_TRAY_SLOTS),
        ("power shelves", sku.power_shelves_per_rack, POWER_SHELF_SLOTS),
    ):
        if count > room:
            yield f"SKU {sku.id} has {count} {what} per rack; a rack block has room for {room}"


@dataclass(frozen=True, slots=True)
class AddressFinding:
    """A problem of the address plan and what it is about: a hall (``hall`` set) or a pool
    (``cluster`` and ``pool`` set)."""

    message: str
    hall: str | None = None
    cluster: str | None = None
    pool: str | None = None


def address_plan_findings(site: Site) -> Iterator[AddressFinding]:
    """Each hall network too small for its rack positions and control-plane hosts, and each
    pool whose SKU's rack does not fit a rack block."""
    cp_per_hall: dict[str, int] = {}
    for c in site.clusters:
        cp_per_hall[c.control_plane_hall] = cp_per_hall.get(c.control_plane_hall, 0) + c.control_plane_count
    block = {"mgmt_cidr": MGMT_ADDRESSES_PER_RACK, "bmc_cidr": BMC_ADDRESSES_PER_RACK}
    for hall in site.halls:
        cps = cp_per_hall.get(hall.name, 0)
        needs = hall_network_needs(hall.rack_positions, cps)
        for kind, cidr in (("mgmt_cidr", hall.mgmt_cidr), ("bmc_cidr", hall.bmc_cidr)):
            have = ipaddress.IPv4Network(cidr).num_addresses
            need = needs[kind]
            if need > have:
                yield AddressFinding(
                    f"{kind} {cidr} has {have} addresses; ({hall.rack_positions} rack positions + 1) x "
                    f"{block[kind]} + {cps} control-plane hosts + 1 need {need}: use a prefix of "
                    f"/{_prefix_for(need)} or shorter",
                    hall=hall.name,
                )
    for c in site.clusters:
        for p in c.pools:
            for message in rack_block_findings(p.spec):
                yield AddressFinding(message, cluster=c.name, pool=p.name)


def _prefix_for(addresses: int) -> int:
    prefix = 32
    while (1 << (32 - prefix)) < addresses:
        prefix -= 1
    return prefix
