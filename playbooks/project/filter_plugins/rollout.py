"""Filters of the rollout play: batch sizes made of whole racks or scalable units.

The site inventory puts every host in one ``rack_<rack>`` group, every rack in one ``su_<su>``
group, every host in one ``pool_<cluster>_<pool>`` group and GPU hosts in ``gpu_nodes``; hosts
come in inventory order (pool by pool, rack by rack, slot by slot). Batches are built from the
runs of consecutive play hosts that share a rack, so they follow the racks the play really
holds: 18 trays for an NVL72 rack, 16 servers for a CPU rack, fewer under ``--limit``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

UNITS = ("rack", "su")


def _members(groups: Mapping[str, Sequence[str]], prefix: str) -> dict[str, str]:
    return {host: name for name, members in groups.items() if name.startswith(prefix) for host in members}


def rollout_batches(
    hosts: Sequence[str],
    groups: Mapping[str, Sequence[str]],
    by: str = "rack",
    play_hosts: Iterable[str] | None = None,
    units_per_batch: int = 1,
) -> list[int]:
    """Serial batch sizes: the batches of the model's rollout plan
    (gigafactory.planning.rollout.pool_batches), pool by pool in host order.

    In a GPU pool (hosts in ``gpu_nodes``) the first rack alone is the canary. Then
    ``units_per_batch`` units per batch: a batch never splits a rack, never mixes pools and never
    spans two scalable units unless it holds whole SUs. Batches smaller than an SU stay inside
    it (3 racks per batch, SU of 8, after the canary: 3, 3, 1, then 3, 3, 2); batches of an SU's
    size or more (``by='su'``, or at least as many racks as the pool's SU holds) are whole SUs,
    ``units_per_batch`` of them (racks: ``units_per_batch // SU size``), and the rest of the
    canary's SU finishes on its own. A pool's SU size is the most racks one of its SUs holds in
    the play. Hosts in no ``pool_`` or ``su_`` group count as one pool or SU.

    ``play_hosts`` (the hosts left after ``--limit``) narrows ``hosts``. A host outside every
    rack group is an error: it is not from the site inventory."""
    if by not in UNITS:
        raise AnsibleFilterError(f"rollout_batches: by must be one of {', '.join(UNITS)}, not {by!r}")
    if units_per_batch < 1:
        raise AnsibleFilterError("rollout_batches: units_per_batch must be at least 1")
    rack_of = _members(groups, "rack_")
    su_of = _members(groups, "su_")
    pool_of = _members(groups, "pool_")
    gpu = set(groups.get("gpu_nodes", ()))
    wanted = set(play_hosts) if play_hosts is not None else None
    # Pools (is GPU, SUs (host counts of their racks)) in host order.
    pools: list[tuple[bool, list[list[int]]]] = []
    last: tuple[str, str, str] | None = None
    for host in hosts:
        if wanted is not None and host not in wanted:
            continue
        rack = rack_of.get(host)
        if rack is None:
            raise AnsibleFilterError(
                f"rollout_batches: host {host} is in no rack group of the site inventory"
            )
        here = (pool_of.get(host, ""), su_of.get(host, ""), rack)
        if last is None or here[0] != last[0]:
            pools.append((host in gpu, [[1]]))
        elif here[1] != last[1]:
            pools[-1][1].append([1])
        elif here[2] != last[2]:
            pools[-1][1][-1].append(1)
        else:
            pools[-1][1][-1][-1] += 1
        last = here
    sizes: list[int] = []
    for is_gpu, sus in pools:
        sizes.extend(_pool_batches(sus, is_gpu, by, units_per_batch))
    return sizes or [1]


def _pool_batches(sus: list[list[int]], canary: bool, by: str, units_per_batch: int) -> list[int]:
    """Batch sizes of one pool whose SUs hold racks of the given host counts."""
    su_size = max(len(s) for s in sus)
    whole_sus = by == "su" or units_per_batch >= su_size
    sizes: list[int] = []
    if canary:
        sizes.append(sus[0].pop(0))  # the first rack alone
        if not sus[0]:
            sus.pop(0)
        elif whole_sus:
            sizes.append(sum(sus.pop(0)))  # the rest of the canary's SU, on its own
    if whole_sus:
        per = units_per_batch if by == "su" else units_per_batch // su_size
        sizes.extend(sum(sum(s) for s in sus[i : i + per]) for i in range(0, len(sus), per))
    else:
        for s in sus:
            sizes.extend(sum(s[i : i + units_per_batch]) for i in range(0, len(s), units_per_batch))
    return sizes


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"rollout_batches": rollout_batches}
