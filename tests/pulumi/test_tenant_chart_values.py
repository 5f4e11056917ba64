"""The values the Tenants component passes are accepted by the real tenant chart: each
tenant release of every stack renders with the pinned helm (schema and `fail` guards)
into a LocalQueue on the tenant's ClusterQueue and a GPU quota equal to the model's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.pulumi.conftest import ALL_STACKS, releases, rendered


@pytest.fixture(scope="module")
def helm() -> Path:
    """The project's pinned helm (scripts/setup-helm.sh builds or finds it)."""
    proc = subprocess.run(
        [str(REPO / "scripts" / "setup-helm.sh")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"scripts/setup-helm.sh failed: {proc.stderr}"
    return Path(proc.stdout.strip().splitlines()[-1])


def _template(helm: Path, tmp: Path, release: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = release["inputs"]
    values = tmp / f"{inputs['name']}.json"
    values.write_text(json.dumps(inputs["values"]), encoding="utf-8")
    proc = subprocess.run(
        [
            str(helm),
            "template",
            inputs["name"],
            inputs["chart"],
            "--namespace",
            inputs["namespace"],
            "-f",
            str(values),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,  # the chart path is relative to the Pulumi project
        check=False,
    )
    assert proc.returncode == 0, f"{inputs['name']}: helm template failed: {proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.mark.parametrize("stack", [s for s in ALL_STACKS if s not in ("narvik-c4", "narvik-c5", "minikube")])
def test_tenant_values_render_with_the_chart(helm: Path, tmp_path: Path, stack: str) -> None:
    tenant_releases = [r for n, r in releases(rendered(stack)).items() if n.startswith("tenant-")]
    assert tenant_releases, f"{stack}: expected tenant releases"
    for release in tenant_releases:
        values = release["inputs"]["values"]
        docs = _template(helm, tmp_path, release)
        (queue,) = [d for d in docs if d["kind"] == "LocalQueue"]
        assert queue["spec"]["clusterQueue"] == values["kueue"]["clusterQueue"]
        assert queue["metadata"]["namespace"] == values["tenant"]["namespace"]
        (quota,) = [d for d in docs if d["kind"] == "ResourceQuota"]
        assert int(quota["spec"]["hard"]["requests.nvidia.com/gpu"]) == values["quota"]["gpus"]
