"""Layer rules of DESIGN.md that a test can hold: the library never imports Pulumi."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_library_and_cli_import_without_pulumi() -> None:
    """`gigafactory plan` must not pay for (or depend on) the Pulumi SDK."""
    code = (
        "import sys, gigafactory.cli, gigafactory.site.model, gigafactory.planning.plan, gigafactory.policy.site_rules;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_kubernetes', 'pulumi_policy'));"
        "print(','.join(bad))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert proc.stdout.strip() == "", f"imported at module level: {proc.stdout.strip()}"
