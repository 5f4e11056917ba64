"""Benchmark `gigafactory render` (the offline plan under Pulumi's mock runtime).

1. Whole process: `gigafactory render --stack narvik-cN --out DIR` for each narvik stack,
   median of N runs (target: at most 5 s each), with the stack's resource count.
2. In one process: `render_stack` repeated (the policy check calls it per stack): the
   first call pays for importing Pulumi, later ones reset the mock runtime and reuse it.

Usage: .venv/bin/python benchmarks/bench_render.py [--runs 5] [--target 5.0]
Exit 1 when a stack's whole-process median is above the target.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "gigafactory"]
STACKS = [f"narvik-c{i}" for i in range(1, 7)]


def _median_process(stack: str, out: Path, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(
            [*CLI, "render", "--stack", stack, "--out", str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=REPO,
        )
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--target", type=float, default=5.0, help="seconds, whole-process median per stack")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    from gigafactory.stack.render import render_stack

    failed = False
    print(f"whole process, median of {args.runs} runs (target <= {args.target:.1f} s)")
    print(f"{'stack':<12} {'resources':>9} {'median s':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for stack in STACKS:
            median = _median_process(stack, Path(tmp) / stack, args.runs)
            count = len(render_stack(stack).resources)
            flag = "" if median <= args.target else "  ABOVE TARGET"
            failed |= median > args.target
            print(f"{stack:<12} {count:>9} {median:>9.2f}{flag}")

    print("\nin one process (render_stack, mock runtime reset between stacks)")
    times = []
    for stack in STACKS * 2:
        t = time.perf_counter()
        render_stack(stack)
        times.append(time.perf_counter() - t)
    print(
        f"per stack: median {statistics.median(times):.3f} s, max {max(times):.3f} s over {len(times)} renders"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
