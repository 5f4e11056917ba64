"""Scheduling: Kueue pinned, GPU-only quota accounting, priority classes."""

from __future__ import annotations

import json

from components import versions
from tests.pulumi.conftest import kind_of, releases, rendered


def test_kueue_is_pinned_from_its_oci_chart() -> None:
    kueue = releases(rendered("narvik-c1"))["kueue"]["inputs"]
    assert kueue["chart"] == "oci://registry.k8s.io/kueue/charts/kueue"
    assert kueue["version"] == versions.KUEUE.version == "0.19.2"


def test_kueue_accounts_gpus_only() -> None:
    values = releases(rendered("narvik-c1"))["kueue"]["inputs"]["values"]
    config = json.loads(values["managerConfig"]["controllerManagerConfigYaml"])
    assert config["apiVersion"] == "config.kueue.x-k8s.io/v1beta2"
    assert {"cpu", "memory"} <= set(config["resources"]["excludeResourcePrefixes"])
    assert "nvidia.com/gpu" not in config["resources"]["excludeResourcePrefixes"]


def test_priority_classes_order_inference_over_training_over_batch() -> None:
    classes = {
        r["inputs"]["metadata"]["name"]: r["inputs"] for r in kind_of(rendered("kind"), "PriorityClass")
    }
    assert (
        classes["gigafactory-inference"]["value"]
        > classes["gigafactory-training"]["value"]
        > classes["gigafactory-batch"]["value"]
    )
    assert classes["gigafactory-batch"]["preemptionPolicy"] == "Never"
    assert not any(c.get("globalDefault") for c in classes.values())
