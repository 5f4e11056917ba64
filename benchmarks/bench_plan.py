"""Benchmark `gigafactory plan`.

1. Whole process: `gigafactory plan sites/narvik.yaml --format json`, median of N runs
   (target: at most 1.0 s on the project's 2-core machine).
2. Planning cost against node count: synthetic GB300 sites of 10k, 100k and 1M GPUs with
   the same six clusters (only racks per pool grow), timed in process (load + plan + rules)
   and as a whole process. Flat numbers mean the cost does not grow with nodes.

Usage: .venv/bin/python benchmarks/bench_plan.py [--runs 15]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "gigafactory"]


def _median_process(args: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([*CLI, *args], check=True, stdout=subprocess.DEVNULL, cwd=REPO)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def synthetic_site(gpus: int) -> dict[str, object]:
    """Six halls/clusters of GB300 NVL72 racks holding about ``gpus`` GPUs in whole racks."""
    racks_per_cluster = max(1, round(gpus / 72 / 6))
    halls, clusters = [], []
    for i in range(6):
        hall = f"hall-{i}"
        halls.append(
            {
                "name": hall,
                "cooling": "liquid",
                "max_rack_kw": 150,
                "rack_positions": racks_per_cluster + 10,
                "mgmt_cidr": f"10.{i}.0.0/16",
                "bmc_cidr": f"10.{100 + i}.0.0/16",
            }
        )
        clusters.append(
            {
                "name": f"c{i + 1}",
                "kubernetes_node_limit_exception": "synthetic benchmark",
                "pools": [
                    {
                        "name": "train",
                        "role": "training",
                        "sku": "gb300-nvl72",
                        "hall": hall,
                        "racks": racks_per_cluster,
                    },
                    {"name": "system", "role": "system", "sku": "cpu-2u", "hall": hall, "racks": 3},
                ],
            }
        )
    return {
        "name": f"synthetic-{gpus}",
        "grid": {
            "zone": "NO-NO4",
            "renewable_evidence": {
                "registry": "benchmark",
                "certificates": ["benchmark"],
                "mwh": 1e6,
                "period": {"start": datetime.date(2026, 1, 1), "end": datetime.date(2026, 12, 31)},
            },
        },
        "power": {"design_pue": 1.1, "phases": [{"name": "all", "mw": 10_000}], "active_phase": "all"},
        "heat_reuse": {"plan": "benchmark"},
        "commitments": {"gpus": gpus * 2},
        "halls": halls,
        "clusters": clusters,
    }


def _median_in_process(path: Path, runs: int) -> float:
    from gigafactory.planning.plan import plan
    from gigafactory.policy.engine import evaluate
    from gigafactory.site import load_site

    times = []
    for _ in range(runs):
        t = time.perf_counter()
        site = load_site(path)
        evaluate(site, plan(site))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()

    narvik = _median_process(["plan", "sites/narvik.yaml", "--format", "json"], args.runs)
    print(
        f"plan sites/narvik.yaml --format json, whole process: median {narvik:.3f} s over {args.runs} runs "
        f"(target <= 1.0 s) {'OK' if narvik <= 1.0 else 'OVER'}"
    )

    from gigafactory.site import load_site

    print(f"{'GPUs':>10} {'nodes':>9} {'in-process median':>18} {'whole process median':>21}")
    with tempfile.TemporaryDirectory() as tmp:
        for gpus in (10_000, 100_000, 1_000_000):
            path = Path(tmp) / f"s{gpus}.yaml"
            path.write_text(yaml.safe_dump(synthetic_site(gpus)))
            site = load_site(path)
            nodes = sum(c.nodes for c in site.clusters)
            inproc = _median_in_process(path, args.runs * 20)
            whole = _median_process(["plan", str(path), "--format", "json"], args.runs)
            gpu_count = sum(c.gpus for c in site.clusters)
            print(f"{gpu_count:>10,} {nodes:>9,} {inproc * 1000:>15.2f} ms {whole:>19.3f} s")


if __name__ == "__main__":
    main()
