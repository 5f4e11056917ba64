"""The bare-metal address plan and host naming, computed from the site model.

Host naming (stable when racks are added, because it follows physical position, not order):
  - worker node: ``<rack>-n<slot:02d>``, e.g. ``hall-a-r0042-n07`` (rack name from the model:
    ``<hall>-r<position:04d>``; slot 1-based from the bottom of the rack);
  - control-plane host: ``<cluster>-cp<i>``, e.g. ``c1-cp1`` (i from 1).

Address plan (per hall, the same shape in the management and the BMC network):
  - the hall network is cut into blocks of ``ADDRESSES_PER_RACK`` addresses; block ``p`` belongs
    to rack position ``p`` (1-based), and slot ``s`` gets offset ``s`` inside it, so a node's
    address depends only on its rack position and slot. Offset 0 of each block is left for the
    rack's management switch; block 0 is for the hall's gateway and services;
  - control-plane hosts take the top of the network, counted down from the last usable address,
    in cluster order of the site file then host index;
  - site rule ``address-plan-capacity`` (gigafactory.policy.site_rules) fails when a hall network cannot hold
    every rack position plus the control-plane hosts, or a SKU has more nodes per rack than a
    block has slots.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gigafactory.site.model import Site

ADDRESSES_PER_RACK = 32
"""Addresses per rack position block: offset 0 for the rack switch, slots 1..31 for nodes."""


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


def rack_offset(position: int, slot: int) -> int:
    return position * ADDRESSES_PER_RACK + slot


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


def address_plan_findings(site: Site) -> Iterator[tuple[str, str]]:
    """(subject, message) for each hall network too small for its rack positions and
    control-plane hosts, and each SKU with more nodes per rack than a rack block has slots."""
    cp_per_hall: dict[str, int] = {}
    for c in site.clusters:
        cp_per_hall[c.control_plane_hall] = cp_per_hall.get(c.control_plane_hall, 0) + c.control_plane_count
    for hall in site.halls:
        cps = cp_per_hall.get(hall.name, 0)
        need = (hall.rack_positions + 1) * ADDRESSES_PER_RACK + cps + 1
        for kind, cidr in (("mgmt_cidr", hall.mgmt_cidr), ("bmc_cidr", hall.bmc_cidr)):
            have = ipaddress.IPv4Network(cidr).num_addresses
            if need > have:
                yield (
                    f"hall/{hall.name}",
                    f"{kind} {cidr} has {have} addresses; {hall.rack_positions} rack positions x "
                    f"{ADDRESSES_PER_RACK} + {cps} control-plane hosts need {need}: use a prefix of "
                    f"/{_prefix_for(need)} or shorter",
                )
    for c in site.clusters:
        for p in c.pools:
            if p.spec.nodes_per_rack >= ADDRESSES_PER_RACK:
                yield (
                    f"pool/{c.name}/{p.name}",
                    f"SKU {p.sku} has {p.spec.nodes_per_rack} nodes per rack; a rack block has "
                    f"{ADDRESSES_PER_RACK - 1} slots",
                )


def _prefix_for(addresses: int) -> int:
    prefix = 32
    while (1 << (32 - prefix)) < addresses:
        prefix -= 1
    return prefix
