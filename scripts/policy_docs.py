"""Write (or, with --check, verify) the files generated from the policy catalogue:
docs/policies.md and policy/policy-config.json (gigafactory.policy.docs).

The project is the one the command runs in (gigafactory.project.project_dir: the working
directory or its nearest parent with Pulumi.yaml, or GIGAFACTORY_PROJECT_DIR); the
library is the installed one.

Usage: python scripts/policy_docs.py [--check]. Exit 1 with --check when a file is stale.
"""

from __future__ import annotations

import sys

from gigafactory.policy.docs import stale_files, write_generated
from gigafactory.project import project_dir


def main(argv: list[str]) -> int:
    root = project_dir()
    if "--check" in argv:
        stale = stale_files(root)
        for path in stale:
            print(f"{path.relative_to(root)} is stale: run python scripts/policy_docs.py", file=sys.stderr)
        return 1 if stale else 0
    for path in write_generated(root):
        print(f"wrote {path.relative_to(root)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
