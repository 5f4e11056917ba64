"""Benchmark the pinned Go toolchain (scripts/toolchain.sh).

1. Warm: `scripts/toolchain.sh build` with every component cached, median of N runs (target: a
   few seconds; it only checks folders, refreshes the bin-dir links and the manifest).
2. Cold: per component, the wall and CPU seconds its build recorded in
   `<component folder>/build-seconds` when it was built (module downloads listed apart), so
   cold times are reported without rebuilding (~35-45 min on the project's 2-core machine).

Usage: .venv/bin/python benchmarks/bench_toolchain.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "toolchain.sh"
WARM_TARGET_S = 5.0


def _status() -> list[tuple[str, str, str, Path]]:
    out = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        name, version, state, folder = line.split(maxsplit=3)
        if name != "bin-dir":
            rows.append((name, version, state, Path(folder)))
    return rows


def _seconds(folder: Path) -> dict[str, float]:
    values: dict[str, float] = {}
    path = folder / "build-seconds"
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.endswith("_s"):
            values[key] = float(value)
    return values


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    rows = _status()
    missing = [name for name, _, state, _ in rows if state != "built"]
    if missing:
        print(
            f"toolchain not fully built (missing: {' '.join(missing)}); run `make toolchain` first",
            file=sys.stderr,
        )
        return 1

    print("cold builds (recorded by the build; wall includes waiting for downloads):")
    print(
        f"  {'component':<15} {'version':<10} {'wall s':>7} {'cpu s':>8} {'download wall s':>16} {'download cpu s':>15}"
    )
    total_wall = total_cpu = 0.0
    for name, version, _, folder in rows:
        s = _seconds(folder)
        total_wall += s.get("wall_s", 0.0)
        total_cpu += s.get("cpu_s", 0.0) + s.get("prep_cpu_s", 0.0)
        print(
            f"  {name:<15} {version:<10} {s.get('wall_s', float('nan')):>7.0f} {s.get('cpu_s', float('nan')):>8.1f}"
            f" {s.get('prep_wall_s', float('nan')):>16.0f} {s.get('prep_cpu_s', float('nan')):>15.1f}"
        )
    print(f"  {'total':<26} {total_wall:>7.0f} {total_cpu:>8.1f}  (cpu incl. downloads)")

    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        subprocess.run(["bash", str(SCRIPT), "build"], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    median = statistics.median(times)
    verdict = "ok" if median <= WARM_TARGET_S else "SLOW"
    print(
        f"warm `toolchain.sh build`: median {median:.2f} s of {args.runs} "
        f"({', '.join(f'{x:.2f}' for x in times)}); target <= {WARM_TARGET_S:.0f} s: {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
