"""NCCL all-reduce check for GPU burn-in, run under torchrun (one process per GPU).

Checks two things over a sweep of message sizes (1 MiB doubling up to --max-mib):
correctness (every rank adds rank + 1; every element must equal n(n+1)/2) and bus
bandwidth, computed as nccl-tests does for all-reduce: algbw = bytes / time,
busbw = algbw * 2(n-1)/n. Each size's time is the slowest rank's, so every rank reaches
the same verdict. Local rank 0 of each node writes <name>.result ("pass"/"fail"), <name>.busbw (GB/s at
the largest size) and <name>.json into --result-dir. Exit code 0 only on pass.

The pure functions (sizes, bandwidth, verdict) need no torch and are unit-tested.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
WARMUP_ITERATIONS = 5


@dataclass(frozen=True)
class SizeResult:
    """Timing of one message size: bytes, mean seconds per all-reduce, GB/s figures."""

    size_bytes: int
    seconds: float
    algbw_gbps: float
    busbw_gbps: float
    correct: bool


def message_sizes(max_mib: int) -> list[int]:
    """Message sizes in bytes: 1 MiB, doubling, up to and including max_mib (>= 1)."""
    if max_mib < 1:
        raise ValueError(f"max_mib must be >= 1, got {max_mib}")
    sizes = []
    mib = 1
    while mib < max_mib:
        sizes.append(mib * MIB)
        mib *= 2
    sizes.append(max_mib * MIB)
    return sizes


def bandwidths_gbps(size_bytes: int, seconds: float, world_size: int) -> tuple[float, float]:
    """(algbw, busbw) in GB/s (1e9 bytes/s) of one all-reduce of size_bytes over world_size ranks."""
    if seconds <= 0 or world_size < 1:
        raise ValueError("seconds must be > 0 and world_size >= 1")
    algbw = size_bytes / seconds / 1e9
    busbw = algbw * 2 * (world_size - 1) / world_size
    return algbw, busbw


def verdict(results: list[SizeResult], min_busbw_gbps: float) -> tuple[bool, str]:
    """Pass if every size was correct and the largest size reached min_busbw_gbps."""
    if not results:
        return False, "no sizes measured"
    wrong = [r.size_bytes for r in results if not r.correct]
    if wrong:
        return False, f"wrong all-reduce result at sizes {wrong}"
    last = results[-1]
    if last.busbw_gbps < min_busbw_gbps:
        return False, f"bus bandwidth {last.busbw_gbps:.1f} GB/s < required {min_busbw_gbps:.1f} GB/s"
    return True, "ok"


def write_results(
    result_dir: Path, name: str, results: list[SizeResult], passed: bool, reason: str, world_size: int
) -> None:
    """Write <name>.result, <name>.busbw and <name>.json into result_dir."""
    result_dir.mkdir(parents=True, exist_ok=True)
    busbw = results[-1].busbw_gbps if results else 0.0
    (result_dir / f"{name}.result").write_text("pass\n" if passed else "fail\n")
    (result_dir / f"{name}.busbw").write_text(f"{busbw:.2f}\n")
    report = {
        "test": "nccl-all-reduce",
        "world_size": world_size,
        "result": "pass" if passed else "fail",
        "reason": reason,
        "busbw_gbps": round(busbw, 2),
        "sizes": [asdict(r) for r in results],
    }
    (result_dir / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")


def _measure(torch: Any, dist: Any, size_bytes: int, iterations: int, device: Any) -> SizeResult:
    world_size = int(dist.get_world_size())
    rank = int(dist.get_rank())
    elements = size_bytes // 4
    data = torch.full((elements,), float(rank + 1), dtype=torch.float32, device=device)
    dist.all_reduce(data)
    expected = world_size * (world_size + 1) / 2
    correct = bool(torch.all(data == expected).item())
    # Time on zeros: repeated sums of non-zero data would overflow to inf.
    work = torch.zeros_like(data)
    for _ in range(WARMUP_ITERATIONS):
        dist.all_reduce(work)
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(iterations):
        dist.all_reduce(work)
    torch.cuda.synchronize(device)
    local = torch.tensor([(time.perf_counter() - start) / iterations], dtype=torch.float64, device=device)
    dist.all_reduce(local, op=dist.ReduceOp.MAX)
    flags = torch.tensor([0 if correct else 1], dtype=torch.int32, device=device)
    dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    seconds = float(local.item())
    algbw, busbw = bandwidths_gbps(size_bytes, seconds, world_size)
    return SizeResult(size_bytes, seconds, algbw, busbw, int(flags.item()) == 0)


def run(args: argparse.Namespace) -> int:
    """Run the sweep under torchrun; return the process exit code."""
    torch: Any = importlib.import_module("torch")
    dist: Any = importlib.import_module("torch.distributed")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local_rank)
    device = torch.device("cuda", local_rank)
    dist.init_process_group(backend="nccl", device_id=device)
    rank = int(dist.get_rank())
    world_size = int(dist.get_world_size())
    results = []
    for size in message_sizes(args.max_mib):
        result = _measure(torch, dist, size, args.iterations, device)
        results.append(result)
        if rank == 0:
            print(
                f"{size / MIB:>8.0f} MiB  {result.seconds * 1e6:>10.1f} us  "
                f"algbw {result.algbw_gbps:>7.1f} GB/s  busbw {result.busbw_gbps:>7.1f} GB/s  "
                f"{'ok' if result.correct else 'WRONG'}",
                flush=True,
            )
    passed, reason = verdict(results, args.min_busbw_gbps)
    if local_rank == 0:  # one writer per pod: each node's report reads its own files
        write_results(Path(args.result_dir), args.name, results, passed, reason, world_size)
    if rank == 0:
        print(
            f"nccl all-reduce over {world_size} GPUs: {'PASS' if passed else 'FAIL'} ({reason})", flush=True
        )
    dist.destroy_process_group()
    return 0 if passed else 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--max-mib", type=int, default=1024, help="largest message in MiB")
    parser.add_argument("--iterations", type=int, default=20, help="timed iterations per size")
    parser.add_argument(
        "--min-busbw-gbps", type=float, default=0.0, help="pass threshold at the largest size"
    )
    parser.add_argument("--result-dir", default="/results", help="where rank 0 writes its result files")
    parser.add_argument("--name", default="nccl", help="prefix of the result files")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(run(parse_args(sys.argv[1:])))
