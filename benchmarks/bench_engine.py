"""Benchmark the real Pulumi engine against the simulator (`gigafactory up|preview --stack sim`).

Whole processes, as a user runs them, in private state folders (the user's simulator and stacks
are untouched): the simulator is brought up first (not timed), then

1. `gigafactory up --stack sim --yes` from empty       (target: at most 60 s)
2. the same again, changing nothing                    (target: at most 20 s)
3. `gigafactory preview --stack sim --policy-pack`     (target: at most 30 s)

then `destroy` and `sim down` (timed, no target). Needs the toolchain (`make toolchain`).

Usage: .venv/bin/python benchmarks/bench_engine.py [--stack sim]
Exit 1 when a step fails or is above its target.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "gigafactory"]


def _timed(args: list[str], env: dict[str, str]) -> tuple[int, float, str]:
    started = time.perf_counter()
    proc = subprocess.run(
        [*CLI, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return proc.returncode, time.perf_counter() - started, proc.stdout + proc.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="sim")
    args = parser.parse_args()
    stack = args.stack
    steps: list[tuple[str, list[str], float | None]] = [
        ("up from empty", ["up", "--stack", stack, "--yes"], 60.0),
        ("no-op up", ["up", "--stack", stack, "--yes"], 20.0),
        ("preview --policy-pack", ["preview", "--stack", stack, "--policy-pack"], 30.0),
        ("destroy", ["destroy", "--stack", stack, "--yes"], None),
    ]
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        env = dict(os.environ)
        env["GIGAFACTORY_SIM_DIR"] = str(Path(tmp) / "sim")
        env["GIGAFACTORY_STATE_DIR"] = str(Path(tmp) / "state")
        env.pop("PULUMI_BACKEND_URL", None)
        rc, seconds, out = _timed(["sim", "up", "--stack", stack], env)
        print(f"{'sim up (not timed against a target)':<38} {seconds:>7.1f} s")
        if rc != 0:
            print(out, file=sys.stderr)
            return 1
        try:
            print(f"{'step':<38} {'seconds':>9} {'target':>8}")
            for name, cli, target in steps:
                rc, seconds, out = _timed(cli, env)
                over = target is not None and seconds > target
                flag = "  FAILED" if rc != 0 else ("  ABOVE TARGET" if over else "")
                shown = f"{target:.0f} s" if target is not None else "-"
                print(f"{name:<38} {seconds:>7.1f} s {shown:>8}{flag}")
                if rc != 0:
                    print(out, file=sys.stderr)
                failed |= rc != 0 or over
        finally:
            rc, seconds, out = _timed(["sim", "down", "--stack", stack], env)
            print(f"{'sim down':<38} {seconds:>7.1f} s")
            failed |= rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
