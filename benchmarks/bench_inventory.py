"""Benchmark: the narvik inventory (~25,000 hosts) in Python and in Ansible through the plugin,
side by side with a static YAML inventory of the same hosts, in one run.

    .venv/bin/python benchmarks/bench_inventory.py [--runs 5]

Reports medians (seconds) and peak resident memory (MB) of `ansible -i <inventory> <rack group>
--list-hosts`, and the plugin / static ratio. Targets: Python generation <= 2 s; plugin whole
site <= 5 s and <= 400 MB; plugin scoped to one cluster <= 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gigafactory.baremetal.inventory import build  # noqa: E402
from gigafactory.site import load_site  # noqa: E402

SITE = REPO / "sites" / "narvik.yaml"
BIN = Path(sys.executable).parent
RACK_GROUP = "rack_hall_a_r0042"


def _ansible(inventory: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `ansible --list-hosts` run."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "playbooks" / "ansible.cfg")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    out = subprocess.run(
        [str(BIN / "ansible"), "-i", str(inventory), RACK_GROUP, "--list-hosts"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if "hosts (18)" not in out:
        raise SystemExit(f"unexpected output for {inventory}: {out[:200]}")
    # ru_maxrss of children is the largest child so far: measure each kind in a fresh process.
    return elapsed, max(peak, before) / 1024


def _measure(inventory: Path, runs: int) -> tuple[float, float]:
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r}); from benchmarks.bench_inventory import _ansible; "
        f"from pathlib import Path; t, m = _ansible(Path({str(inventory)!r})); print(t, m)"
    )
    times, mems = [], []
    for _ in range(runs):
        t, m = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
        times.append(float(t))
        mems.append(float(m))
    return statistics.median(times), max(mems)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    gen, cli = [], []
    for _ in range(runs):
        start = time.perf_counter()
        site = load_site(SITE)
        data = build(site).ansible_list()
        gen.append(time.perf_counter() - start)
        start = time.perf_counter()
        subprocess.run(
            [str(BIN / "gigafactory"), "inventory", str(SITE)], check=True, stdout=subprocess.DEVNULL
        )
        cli.append(time.perf_counter() - start)
    hosts = len(data["_meta"]["hostvars"])
    with tempfile.TemporaryDirectory() as tmp:
        whole = Path(tmp) / "narvik.gigafactory_site.yml"
        whole.write_text(f"plugin: gigafactory_site\nsite: {SITE}\n")
        scoped = Path(tmp) / "narvik-c1.gigafactory_site.yml"
        scoped.write_text(f"plugin: gigafactory_site\nsite: {SITE}\ncluster: c1\n")
        static = Path(tmp) / "narvik-static.yml"
        inv = build(site)
        groups: dict[str, dict[str, object]] = {}
        for g in inv.groups.values():
            entry: dict[str, object] = {}
            if g.hosts:
                entry["hosts"] = {h: inv.hostvars[h] for h in g.hosts}
            if g.children:
                entry["children"] = {c: None for c in g.children}
            if g.vars:
                entry["vars"] = g.vars
            groups[g.name] = entry
        static.write_text(yaml.dump({"all": {"children": groups}}, Dumper=yaml.CSafeDumper, sort_keys=False))
        results = {
            "plugin, whole site": _measure(whole, runs),
            "static YAML, whole site": _measure(static, runs),
            "plugin, cluster c1": _measure(scoped, runs),
        }
    print(f"hosts: {hosts}, runs: {runs}")
    print(
        f"python inventory generation (load site + build + --list shape): median {statistics.median(gen):.2f} s"
    )
    print(f"gigafactory inventory (CLI, JSON to /dev/null): median {statistics.median(cli):.2f} s")
    for name, (t, m) in results.items():
        print(f"ansible --list-hosts {RACK_GROUP}, {name}: median {t:.2f} s, peak {m:.0f} MB")
    ratio = results["plugin, whole site"][0] / results["static YAML, whole site"][0]
    print(f"plugin / static YAML time ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
