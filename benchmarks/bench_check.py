"""Benchmark `gigafactory check --all-stacks` (the offline policy gate of a pull request).

1. Whole process: `gigafactory check --all-stacks --format json`, median wall and CPU
   seconds of N runs (target: wall at most 3 s on the project's 2-core machine). Each
   run renders every stack in stacks/ under Pulumi's mock runtime, in one process, and
   runs every policy over it. CPU seconds (user + system) say what the run costs when
   other jobs share the machine and stretch its wall time.
2. Split, in process, after the imports: per stack, the render versus the policies over
   the rendered resources, so a slow run shows which side grew.

Usage: .venv/bin/python benchmarks/bench_check.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "gigafactory"]
TARGET_S = 3.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _median_process(args: list[str], runs: int) -> tuple[float, float, list[float]]:
    """(median wall s, median CPU s, wall of each run)."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu, t = _children_cpu(), time.perf_counter()
        # exit 1 (a mandatory violation) still measures the gate; anything else is an error
        proc = subprocess.run([*CLI, *args], stdout=subprocess.DEVNULL, cwd=REPO, check=False)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"gigafactory {' '.join(args)} exited {proc.returncode}")
        walls.append(time.perf_counter() - t)
        cpus.append(_children_cpu() - cpu)
    return statistics.median(walls), statistics.median(cpus), walls


def _split() -> None:
    from gigafactory.policy.engine import report_for, schemas_parsed_once, stack_context
    from gigafactory.stack.config import load_stack_config, stacks
    from gigafactory.stack.render import render_stack

    print(f"{'stack':<12} {'resources':>9} {'render ms':>10} {'policies ms':>12}")
    with schemas_parsed_once():
        for stack in stacks(REPO):
            t = time.perf_counter()
            rendered = render_stack(stack, root=REPO)
            render_s = time.perf_counter() - t
            t = time.perf_counter()
            config = load_stack_config(stack, REPO)
            ctx = stack_context(stack, config.site, config.cluster, config.platform, REPO)
            report = report_for(ctx, rendered.resources)
            policy_s = time.perf_counter() - t
            print(f"{stack:<12} {len(report.resources):>9} {render_s * 1000:>10.1f} {policy_s * 1000:>12.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    wall, cpu, walls = _median_process(["check", "--all-stacks", "--format", "json"], args.runs)
    runs = ", ".join(f"{t:.2f}" for t in walls)
    print(
        f"check --all-stacks --format json, whole process: median {wall:.2f} s wall, {cpu:.2f} s CPU over "
        f"{args.runs} runs ({runs}); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs "
        f"(target <= {TARGET_S:g} s) {'OK' if wall <= TARGET_S else 'OVER'}"
    )
    _split()


if __name__ == "__main__":
    main()
