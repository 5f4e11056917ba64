"""Benchmark a rollout rehearsal: playbooks/project/rollout.yml against a simulator, in the model's
batches, each batch's wall time against the rollout-time model's controller cost of the batch
(``batch_overhead`` + nodes x ``controller``; the per-node steps the rehearsal leaves out are 0).

The simulator of the stack is brought up in a private state folder (timed, no target), one pod
per node of the rolled batches is placed for the drain to evict, then `gigafactory.sim.rollout`
runs the playbook once per batch of `planning.rollout` (the canary rack, then whole racks) and
the simulator is stopped. With `--su` only the batches inside that scalable unit roll (the
canary's SU of a production cluster: 1 rack, then 7); without it every batch of the cluster.

Usage:
  .venv/bin/python benchmarks/bench_rollout.py [--stack sim]
  flock /tmp/gf-fullsize.lock .venv/bin/python benchmarks/bench_rollout.py --stack narvik-c1-sim --su first
Prints the least-squares line through the batches' (nodes, seconds): the overhead and per-node
controller cost measured here, to compare with (or set as) the model's defaults.
Exit 1 when a batch fails or takes longer than the model says.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from gigafactory.errors import GigafactoryError
from gigafactory.planning.rollout import StepCosts, batch_minutes
from gigafactory.sim import cluster as sim
from gigafactory.sim import kube, rollout

NAMESPACE = "bench-rollout"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="sim")
    parser.add_argument("--su", help="only this scalable unit's batches; 'first': the canary's SU")
    parser.add_argument("--forks", type=int, default=rollout.FORKS)
    parser.add_argument("--json", type=Path, help="write the batch timings here")
    args = parser.parse_args()
    rehearsal = StepCosts(drain=0, install=0, reboot=0, health=0, burnin=0)
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as tmp:
        os.environ[sim.ENV_DIR] = str(Path(tmp) / "sim")
        started = time.monotonic()
        try:
            sim.up(args.stack)
        except GigafactoryError as exc:
            print(f"sim up --stack {args.stack} failed: {exc}", file=sys.stderr)
            return 1
        print(f"sim up --stack {args.stack}: {time.monotonic() - started:.1f} s", flush=True)
        try:
            _, cluster = sim.target(args.stack)
            su = args.su
            if su == "first":
                pool = cluster.gpu_pools[0]
                su = pool.su_name(pool.first_rack_position)
            batches = rollout.model_batches(cluster, su)
            names = [n for b in batches for n in rollout.batch_hosts(cluster, b)]
            with sim.api_client(args.stack) as api:
                ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
                code, data = kube.request(api, "POST", "/api/v1/namespaces", ns)
                if code >= 300:
                    print(f"namespace {NAMESPACE}: {code}: {kube.message(data)}", file=sys.stderr)
                    return 1
                started = time.monotonic()
                rollout.place_workload(api, NAMESPACE, names)
                print(f"{len(names)} pods running: {time.monotonic() - started:.1f} s", flush=True)
            runs = rollout.rehearse(
                args.stack, batches, forks=args.forks, progress=lambda line: print(line, flush=True)
            )
        except rollout.RolloutError as exc:
            print(f"rollout failed: {exc}", file=sys.stderr)
            return 1
        finally:
            sim.down(args.stack)
    print(f"{'batch':<8} {'racks':>5} {'nodes':>5} {'seconds':>8} {'model':>6}")
    over = False
    for run in runs:
        model_s = batch_minutes(run.batch.nodes, rehearsal, args.forks) * 60
        flag = "  ABOVE" if run.seconds > model_s else ""
        over |= bool(flag)
        label = f"{run.batch.index}{' canary' if run.batch.canary else ''}"
        print(
            f"{label:<8} {len(run.batch.racks):>5} {run.batch.nodes:>5} {run.seconds:>8.1f} {model_s:>6.0f}{flag}"
        )
    fit = _line([(r.batch.nodes, r.seconds) for r in runs])
    if fit:
        print(
            f"measured: {fit[0]:.1f} s per batch + {fit[1]:.2f} s per node "
            f"(model: batch_overhead {rehearsal.batch_overhead * 60:.0f} s, "
            f"controller {rehearsal.controller * 60:.2f} s per node)"
        )
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in runs], indent=2) + "\n", encoding="utf-8")
    return 1 if over else 0


def _line(points: list[tuple[int, float]]) -> tuple[float, float] | None:
    """(intercept, slope) of the least-squares line through the points; None without two sizes."""
    if len({x for x, _ in points}) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
    return my - slope * mx, slope


if __name__ == "__main__":
    sys.exit(main())
