"""Write (or, with --check, verify) the files generated from the policy catalogue.

- docs/policies.md: the table of every policy (name, kind, level, what it checks,
  threshold, source);
- policy/policy-config.json: the `--policy-pack-config` file for `pulumi preview`, with
  the levels and thresholds of gigafactory/data/policy.yaml.

Usage: python scripts/policy_docs.py [--check]. Exit 1 with --check when a file is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gigafactory.policy.engine import pack_config, policies_markdown  # noqa: E402

DOCS = REPO / "docs" / "policies.md"
PACK_CONFIG = REPO / "policy" / "policy-config.json"


def generated() -> dict[Path, str]:
    return {
        DOCS: policies_markdown(),
        PACK_CONFIG: json.dumps(pack_config(), indent=2) + "\n",
    }


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, text in generated().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if check:
            stale.append(path.relative_to(REPO))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(REPO)}")
    for path in stale:
        print(f"{path} is stale: run python scripts/policy_docs.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
