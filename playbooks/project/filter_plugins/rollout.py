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
    """Serial batch sizes: the batches of the model's rollout plan, pool by pool in host order
    (the racks the play holds, grouped by gigafactory.planning.rollout.su_batches, as the
    model's pool_batches groups a pool's rack positions).

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
    # The library's grouping (imported here: the site model behind it loads only when a play
    # asks for batches, not whenever Ansible loads this project's filters).
    from gigafactory.planning.rollout import su_batches

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
        # One pool's SU size is the most racks one of its SUs holds in the play.
        su_racks = max(len(s) for s in sus)
        batch_racks = units_per_batch * su_racks if by == "su" else units_per_batch
        batches = su_batches(sus, su_racks, canary_racks=1 if is_gpu else 0, batch_racks=batch_racks)
        sizes.extend(sum(batch) for batch in batches)
    return sizes or [1]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"rollout_batches": rollout_batches}
