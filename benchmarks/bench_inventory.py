"""Benchmark: the narvik inventory (~25,000 hosts) in Python and in Ansible through the plugin,
side by side with the plugin on ansible-core's public API only and a static YAML inventory of the
same hosts, in one run.

    .venv/bin/python benchmarks/bench_inventory.py [--runs 5] [--static-runs 1]

Reports medians (seconds) and peak resident memory (MB) of `ansible -i <inventory> all
--list-hosts`, and the ratios to the static inventory. Targets (issue 14): plugin whole site
<= 3 s and <= 200 MB; plugin scoped to one cluster <= 1.0 s; Python generation <= 2 s; each
target is reported met or MISSED. The
plugin is measured with its build cache warm (a fresh cache; the first run fills it) and off.
The static inventories (cluster c1, whole site) take minutes and gigabytes: they run
--static-runs times (0 skips them).
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
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gigafactory.baremetal.inventory import build  # noqa: E402
from gigafactory.site import load_site  # noqa: E402

SITE = REPO / "sites" / "narvik.yaml"
BIN = Path(sys.executable).parent
PATTERN = "all"
ALONE = "localhost,"
"""A one-host inline inventory: ansible itself, without any inventory plugin."""


def _ansible(inventory: Path | str, hosts: int, public_api: bool = False) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MB) and CPU seconds (user + system) of one `ansible all
    --list-hosts` run. On a busy machine the CPU seconds say more than the wall time."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "playbooks" / "ansible.cfg")}
    if public_api:
        env["GIGAFACTORY_INVENTORY_PUBLIC_API"] = "1"
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    out = subprocess.run(
        [str(BIN / "ansible"), "-i", str(inventory), PATTERN, "--list-hosts"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    elapsed = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime - cpu_before
    if f"hosts ({hosts})" not in out:
        raise SystemExit(f"unexpected output for {inventory}: {out[:200]}")
    # ru_maxrss of children is the largest child so far: measure each kind in a fresh process.
    return elapsed, max(peak, before) / 1024, cpu


def _measure(inventory: Path | str, runs: int, hosts: int, public_api: bool = False) -> tuple[float, float]:
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r}); from benchmarks.bench_inventory import _ansible; "
        f"from pathlib import Path; t, m, c = _ansible(Path({str(inventory)!r}), {hosts}, {public_api}); print(t, m, c)"
    )
    times, mems, cpus = [], [], []
    for _ in range(runs):
        t, m, c = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
        times.append(float(t))
        mems.append(float(m))
        cpus.append(float(c))
    CPU[str(inventory), public_api] = statistics.median(cpus)
    return statistics.median(times), max(mems)


CPU: dict[tuple[str, bool], float] = {}
"""Median CPU seconds of each measured inventory (and public-API switch)."""

TARGETS = (
    ("plugin, whole site, cache warm", 3.0, 200),
    ("plugin, whole site, no cache", 3.0, 200),
    ("plugin, cluster c1, cache warm", 1.0, None),
)
"""Issue 14: the whole site through the plugin in <= 3 s and <= 200 MB, one cluster in <= 1.0 s."""


def _static(site: Any, cluster: str | None, path: Path) -> Path:
    """A static YAML inventory of the same hosts, groups and variables (the baseline)."""
    inv = build(site, cluster)
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
    path.write_text(yaml.dump({"all": {"children": groups}}, Dumper=yaml.CSafeDumper, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--static-runs", type=int, default=1)
    args = parser.parse_args()
    runs = args.runs
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
        static = _static(site, None, Path(tmp) / "narvik-static.yml")
        static_c1 = _static(site, "c1", Path(tmp) / "narvik-c1-static.yml")
        whole_cold = Path(tmp) / "narvik-nocache.gigafactory_site.yml"
        whole_cold.write_text(f"plugin: gigafactory_site\nsite: {SITE}\nbuild_cache: false\n")
        scoped_cold = Path(tmp) / "narvik-c1-nocache.gigafactory_site.yml"
        scoped_cold.write_text(f"plugin: gigafactory_site\nsite: {SITE}\ncluster: c1\nbuild_cache: false\n")
        # A fresh build cache: the first cached run fills it, the median is of warm runs.
        os.environ["GIGAFACTORY_CACHE_DIR"] = str(Path(tmp) / "cache")
        c1_hosts = len(build(site, "c1").hostvars)
        results = {
            "plugin, whole site, cache warm": _measure(whole, runs, hosts),
            "plugin, whole site, no cache": _measure(whole_cold, runs, hosts),
            "plugin (public API only), whole site, no cache": _measure(
                whole_cold, runs, hosts, public_api=True
            ),
            "plugin, cluster c1, cache warm": _measure(scoped, runs, c1_hosts),
            "plugin, cluster c1, no cache": _measure(scoped_cold, runs, c1_hosts),
            "plugin (public API only), cluster c1, no cache": _measure(
                scoped_cold, runs, c1_hosts, public_api=True
            ),
            # What any `ansible` command costs before an inventory plugin runs (start-up, the
            # project's ansible.cfg, ansible-core's plugin routing): the floor under every figure.
            "no inventory (ansible -i localhost,)": _measure(ALONE, runs, 1),
        }
        if args.static_runs > 0:
            results["static YAML, cluster c1"] = _measure(static_c1, args.static_runs, c1_hosts)
            results["static YAML, whole site"] = _measure(static, args.static_runs, hosts)
    print(f"hosts: {hosts}, runs: {runs}")
    print(
        f"python inventory generation (load site + build + --list shape): median {statistics.median(gen):.2f} s"
    )
    print(f"gigafactory inventory (CLI, JSON to /dev/null): median {statistics.median(cli):.2f} s")
    print(
        f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )
    cpu_of = dict(zip(results, CPU.values(), strict=True))
    for name, (t, m) in results.items():
        print(
            f"ansible -i <inventory> {PATTERN} --list-hosts, {name}: median {t:.2f} s "
            f"(CPU {cpu_of[name]:.2f} s), peak {m:.0f} MB"
        )
    for name, limit_s, limit_mb in TARGETS:
        t, m = results[name]
        ok = t <= limit_s and (limit_mb is None or m <= limit_mb)
        limits = f"<= {limit_s} s" + (f" and <= {limit_mb} MB" if limit_mb else "")
        print(f"target {name}: {limits}: {'met' if ok else 'MISSED'} ({t:.2f} s, {m:.0f} MB)")
    floor, _ = results["no inventory (ansible -i localhost,)"]
    for name in ("plugin, cluster c1, cache warm", "plugin, whole site, cache warm"):
        print(f"{name}, less ansible alone: {results[name][0] - floor:.2f} s (the inventory's own share)")
    if "static YAML, cluster c1" in results:
        t, m = results["plugin, cluster c1, cache warm"]
        static_t, static_m = results["static YAML, cluster c1"]
        print(
            f"plugin, cluster c1, cache warm / static YAML: time {t / static_t:.3f}, memory {m / static_m:.3f}"
        )
    public_t, public_m = results["plugin (public API only), whole site, no cache"]
    for name in ("plugin, whole site, no cache", "plugin, whole site, cache warm"):
        t, m = results[name]
        print(f"{name} / public API: time {t / public_t:.2f}, memory {m / public_m:.2f}")
        if "static YAML, whole site" in results:
            static_t, static_m = results["static YAML, whole site"]
            print(f"{name} / static YAML: time {t / static_t:.3f}, memory {m / static_m:.3f}")


if __name__ == "__main__":
    main()
