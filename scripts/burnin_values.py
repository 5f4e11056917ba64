"""Write (or, with --check, verify) the burn-in chart's per-SKU values files,
charts/gpu-burnin/skus/<sku>.yaml, from the hardware catalog (gigafactory.baremetal.burnin).

Usage: python scripts/burnin_values.py [--check]. Exit 1 with --check when a file is stale.
"""

from __future__ import annotations

import sys

from gigafactory.baremetal.burnin import stale_sku_values, write_sku_values
from gigafactory.project import project_dir


def main(argv: list[str]) -> int:
    root = project_dir()
    if "--check" in argv:
        stale = stale_sku_values(root)
        for path in stale:
            print(f"{path.relative_to(root)} is stale: run python scripts/burnin_values.py", file=sys.stderr)
        return 1 if stale else 0
    for path in write_sku_values(root):
        print(f"wrote {path.relative_to(root)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
