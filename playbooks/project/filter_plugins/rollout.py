"""Filters of the rollout play: batch sizes made of whole racks or scalable units.

The site inventory puts every host in one ``rack_<rack>`` group, and every rack in one
``su_<su>`` group; hosts come in inventory order (rack by rack, slot by slot). A batch is the
run of consecutive play hosts that share a rack (or SU), so batches follow the racks the play
really holds: 18 trays for an NVL72 rack, 16 servers for a CPU rack, fewer under ``--limit``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

UNITS = ("rack", "su")


def rollout_batches(
    hosts: Sequence[str],
    groups: Mapping[str, Sequence[str]],
    by: str = "rack",
    play_hosts: Iterable[str] | None = None,
    units_per_batch: int = 1,
) -> list[int]:
    """Serial batch sizes: the first unit alone (the canary), then ``units_per_batch`` units
    per batch, in host order. ``play_hosts`` (the hosts left after ``--limit``) narrows
    ``hosts``. A host outside every unit group is an error: it is not from the site inventory."""
    if by not in UNITS:
        raise AnsibleFilterError(f"rollout_batches: by must be one of {', '.join(UNITS)}, not {by!r}")
    if units_per_batch < 1:
        raise AnsibleFilterError("rollout_batches: units_per_batch must be at least 1")
    prefix = f"{by}_"
    unit_of: dict[str, str] = {}
    for name, members in groups.items():
        if name.startswith(prefix):
            for host in members:
                unit_of[host] = name
    wanted = set(play_hosts) if play_hosts is not None else None
    runs: list[int] = []
    last: str | None = None
    for host in hosts:
        if wanted is not None and host not in wanted:
            continue
        unit = unit_of.get(host)
        if unit is None:
            raise AnsibleFilterError(
                f"rollout_batches: host {host} is in no {by} group of the site inventory"
            )
        if unit == last:
            runs[-1] += 1
        else:
            runs.append(1)
            last = unit
    if not runs:
        return [1]
    sizes = runs[:1]
    rest = runs[1:]
    for i in range(0, len(rest), units_per_batch):
        sizes.append(sum(rest[i : i + units_per_batch]))
    return sizes


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"rollout_batches": rollout_batches}
