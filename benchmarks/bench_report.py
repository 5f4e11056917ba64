"""Benchmark `gigafactory report` and `gigafactory diff` for the Narvik site.

1. Whole process: `gigafactory report sites/narvik.yaml --out DIR` (target: at most 5 s) and
   `gigafactory diff` of Narvik against itself with one scalable unit more (target: at most
   2 s), median of N runs each on the project's 2-core machine.
2. Split, in process: load and plan, each figure, the page, and writing the files, so a slow
   run shows which part grew.

Usage: .venv/bin/python benchmarks/bench_report.py [--runs 5]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
NARVIK = REPO / "sites" / "narvik.yaml"
CLI = [sys.executable, "-m", "gigafactory"]
REPORT_TARGET_S = 5.0
DIFF_TARGET_S = 2.0


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _median_process(args: list[str], runs: int) -> tuple[float, list[float], float]:
    """(median wall seconds, every run's wall seconds, median CPU seconds of the process).
    CPU time is printed too: on a shared 2-core machine wall time mostly measures the load."""
    times, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), _cpu_children()
        proc = subprocess.run([*CLI, *args], stdout=subprocess.DEVNULL, cwd=REPO, check=False)
        if proc.returncode not in (0, 1):  # diff exits 1 on an added mandatory violation
            raise SystemExit(f"gigafactory {' '.join(args)} exited {proc.returncode}")
        times.append(time.perf_counter() - t)
        cpu.append(_cpu_children() - c)
    return statistics.median(times), times, statistics.median(cpu)


def _line(what: str, measured: tuple[float, list[float], float], target: float) -> str:
    median, times, cpu = measured
    runs = ", ".join(f"{t:.2f}" for t in times)
    verdict = "OK" if median <= target else "OVER"
    return (
        f"{what}, whole process: median {median:.2f} s over {len(times)} runs ({runs}), CPU {cpu:.2f} s "
        f"(target <= {target:g} s) {verdict}"
    )


def _split(out: Path) -> None:
    from gigafactory.planning.plan import plan
    from gigafactory.policy.engine import evaluate, load_policy
    from gigafactory.report import figures
    from gigafactory.report.html import render_report, write_report
    from gigafactory.site import load_site

    def timed(what: str, fn: Callable[[], object]) -> object:
        t = time.perf_counter()
        result = fn()
        print(f"  {what:<24} {(time.perf_counter() - t) * 1000:>8.1f} ms")
        return result

    site = load_site(NARVIK)
    site_plan = plan(site)
    config = load_policy(None)
    violations = evaluate(site, site_plan, config)
    colours = figures.pool_colours(site)
    print("split, in process:")
    timed("power budget", lambda: figures.power_budget(site, site_plan))
    timed(f"floor map x {len(site.halls)}", lambda: [figures.floor_map(site, h, colours) for h in site.halls])
    timed("fabric", lambda: figures.fabric(site_plan))
    timed("grid", lambda: figures.grid(site, site_plan, config))
    timed("tenant quotas", lambda: figures.tenant_quotas(site))
    report = render_report(site, site_plan, violations, config)
    timed("write page and files", lambda: write_report(report, out))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        out = Path(tmp)
        measured = _median_process(["report", str(NARVIK), "--out", str(out / "report")], args.runs)
        print(_line("report sites/narvik.yaml", measured, REPORT_TARGET_S))
        data = yaml.safe_load(NARVIK.read_text(encoding="utf-8"))
        data["clusters"][5]["pools"][0]["racks"] += 8  # one scalable unit more in c6
        new = out / "narvik-one-su-more.yaml"
        new.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        measured = _median_process(["diff", str(NARVIK), str(new), "--format", "json"], args.runs)
        print(_line("diff narvik (one SU more), JSON", measured, DIFF_TARGET_S))
        measured = _median_process(["diff", str(NARVIK), str(new)], args.runs)
        print(_line("diff narvik (one SU more), table", measured, DIFF_TARGET_S))
        _split(out / "split")


if __name__ == "__main__":
    main()
