"""Benchmark `gigafactory sim` on the laptop site (stack `sim`), warm (toolchain built, binaries
in the page cache after one untimed round).

Each round runs the whole CLI process: `gigafactory sim up --stack sim` until every planned node
is Ready and Kueue serves, then `gigafactory sim down --stack sim`. Target: up at most 20 s.
State goes to a temporary GIGAFACTORY_SIM_DIR, so a simulator you run yourself is untouched.

Usage: .venv/bin/python benchmarks/bench_sim.py [--runs 3] [--stack sim]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UP_TARGET_S = 20.0


def _timed(*args: str, env: dict[str, str]) -> float:
    began = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "gigafactory", "sim", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - began
    if res.returncode != 0:
        raise SystemExit(f"`gigafactory sim {' '.join(args)}` exited {res.returncode}:\n{res.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="timed rounds after one warm-up round")
    parser.add_argument("--stack", default="sim")
    opts = parser.parse_args()
    ups: list[float] = []
    downs: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as root:
        env = {**os.environ, "GIGAFACTORY_SIM_DIR": root}
        for round_ in range(opts.runs + 1):
            up = _timed("up", "--stack", opts.stack, env=env)
            down = _timed("down", "--stack", opts.stack, env=env)
            label = "warm-up" if round_ == 0 else f"run {round_}"
            print(f"{label:>8}: sim up {up:5.1f} s   sim down {down:5.1f} s", flush=True)
            if round_:
                ups.append(up)
                downs.append(down)
    up_median, down_median = statistics.median(ups), statistics.median(downs)
    verdict = "ok" if up_median <= UP_TARGET_S else f"OVER the {UP_TARGET_S:.0f} s target"
    print(f"median of {opts.runs}: sim up {up_median:.1f} s ({verdict}), sim down {down_median:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
