"""scripts/setup-helm.sh: the one place Helm is pinned; reruns reuse the cached build."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.charts.rendering import HELM_ENV, SETUP_HELM, pinned_helm_version, run_helm


def test_pin_is_an_exact_release() -> None:
    assert pinned_helm_version() == "v3.21.4"


def test_rerun_reuses_the_cached_binary(helm: Path) -> None:
    if os.environ.get(HELM_ENV):
        return  # an externally provided helm: the script's cache is not in use
    before = helm.stat().st_mtime_ns
    proc = subprocess.run([str(SETUP_HELM)], capture_output=True, text=True, check=True, timeout=30)
    assert Path(proc.stdout.strip()) == helm
    assert helm.stat().st_mtime_ns == before


def test_helm_assumes_the_project_kubernetes_minor(helm: Path, tmp_path: Path) -> None:
    # A bare `go install` leaves Kubernetes v1.20.0 in .Capabilities; the script stamps
    # the release value (the client-go minor, 1.36 for v3.21), so kubeVersion
    # constraints (>=1.34) and API checks see the project's Kubernetes.
    chart = tmp_path / "caps"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: caps\nversion: 0.1.0\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caps\n"
        "data:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n"
    )
    result = run_helm(helm, ["template", "caps", str(chart)])
    assert result.returncode == 0, result.stderr
    assert 'kube: "v1.36.0"' in result.stdout, result.stdout
