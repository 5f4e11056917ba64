"""Benchmark `gigafactory check --all-stacks` (the offline policy gate of a pull request).

1. Whole process: `gigafactory check --all-stacks --format json`, median of N runs
   (target: at most 15 s on the project's 2-core machine). Each run renders every stack
   in stacks/ under Pulumi's mock runtime and runs every policy over it.
2. Split, in process: render per stack versus the policies over the rendered resources,
   so a slow run shows which side grew.

Usage: .venv/bin/python benchmarks/bench_check.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "gigafactory"]
TARGET_S = 15.0


def _median_process(args: list[str], runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        # exit 1 (a mandatory violation) still measures the gate; anything else is an error
        proc = subprocess.run([*CLI, *args], stdout=subprocess.DEVNULL, cwd=REPO, check=False)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"gigafactory {' '.join(args)} exited {proc.returncode}")
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def _split(runs: int) -> None:
    from gigafactory.policy.engine import report_for, stack_context
    from gigafactory.stack.config import load_stack_config, stacks
    from gigafactory.stack.render import render_stack

    print(f"{'stack':<12} {'resources':>9} {'render ms':>10} {'policies ms':>12}")
    for stack in stacks(REPO):
        render_t, policy_t = [], []
        count = 0
        for _ in range(runs):
            t = time.perf_counter()
            rendered = render_stack(stack, root=REPO)
            render_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            config = load_stack_config(stack, REPO)
            ctx = stack_context(stack, config.site, config.cluster, config.platform, REPO)
            report = report_for(ctx, rendered.resources)
            policy_t.append(time.perf_counter() - t)
            count = len(report.resources)
        print(
            f"{stack:<12} {count:>9} {statistics.median(render_t) * 1000:>10.1f} "
            f"{statistics.median(policy_t) * 1000:>12.1f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    median, times = _median_process(["check", "--all-stacks", "--format", "json"], args.runs)
    runs = ", ".join(f"{t:.2f}" for t in times)
    print(
        f"check --all-stacks --format json, whole process: median {median:.2f} s over {args.runs} runs "
        f"({runs}) (target <= {TARGET_S:g} s) {'OK' if median <= TARGET_S else 'OVER'}"
    )
    _split(args.runs)


if __name__ == "__main__":
    main()
