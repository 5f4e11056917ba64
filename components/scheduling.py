"""Kueue, pinned, plus the cluster-wide priority classes workloads are admitted with.

When the environment provides Kueue (``gigafactory:provided: [kueue]``) only the priority
classes are made here; the Kueue objects of the pools and tenants are still the stack's."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components._k8s import object_meta, release
from gigafactory.site import kueue as kueue_objects
from gigafactory.site.model import Cluster

NAMESPACE = "kueue-system"

# Priority classes, highest first: (name, value, preempts lower classes, description).
# Inference serves users, so it preempts training; batch takes what is left.
PRIORITY_CLASSES: tuple[tuple[str, int, bool, str], ...] = (
    ("gigafactory-inference", 100_000, True, "Online inference: preempts training and batch."),
    ("gigafactory-training", 10_000, True, "Training jobs: the default for tenant work."),
    ("gigafactory-batch", 1_000, False, "Preemptible batch and evaluation work."),
)
DEFAULT_PRIORITY_CLASS = "gigafactory-training"

# Which jobs Kueue manages, which resources it counts, how fast it works: the same settings as
# the simulator's Kueue (gigafactory.site.kueue, the one place they are written).
KUEUE_NAMESPACE_LABEL = kueue_objects.KUEUE_NAMESPACE_LABEL
MANAGED_JOBS_NAMESPACE_SELECTOR = kueue_objects.MANAGED_JOBS_NAMESPACE_SELECTOR
_FRAMEWORKS = [
    "batch/job",
    "jobset.x-k8s.io/jobset",
    "kubeflow.org/pytorchjob",
    "kubeflow.org/mpijob",
    "trainer.kubeflow.org/trainjob",
    "leaderworkerset.x-k8s.io/leaderworkerset",
    "pod",
]


def kueue_config() -> dict[str, Any]:
    """Kueue's manager Configuration (config.kueue.x-k8s.io/v1beta2)."""
    return {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        "metrics": {"bindAddress": ":8443"},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "integrations": {"frameworks": _FRAMEWORKS},
        **kueue_objects.manager_settings(),
    }


@dataclass(frozen=True)
class SchedulingArgs:
    """Inputs of the scheduling layer."""

    cluster: Cluster
    """The cluster from the site model."""
    monitoring: pulumi.Resource | None = None
    """Release installing the Prometheus Operator CRDs; when given, Kueue exports metrics
    through a ServiceMonitor. Default: no metrics."""

    after: Sequence[pulumi.Resource] = ()
    """Resources the component's releases wait for: the CNI on bare metal. Default: none."""
    kueue_provided: bool = False
    """The environment already runs Kueue with its CRDs: no release. Default: False."""


class Scheduling(pulumi.ComponentResource):
    """Installs Kueue (pinned) and the priority classes."""

    kueue: k8s.helm.v3.Release | None
    """The release installing Kueue's CRDs (every Kueue object depends on it); None when
    the environment provides Kueue."""
    priority_classes: list[str]
    installed: dict[str, str]
    """Chart (or manifest) versions this component installs, by component name."""

    def __init__(self, name: str, args: SchedulingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gigafactory:scheduling:Scheduling", name, None, opts)
        values: dict[str, Any] = {
            "enablePrometheus": args.monitoring is not None,
            # The chart reads this key as YAML text; JSON is YAML.
            "managerConfig": {"controllerManagerConfigYaml": json.dumps(kueue_config(), indent=2)},
        }
        self.kueue = None
        self.installed = {}
        if not args.kueue_provided:
            self.kueue = release(
                f"{name}-kueue",
                self,
                pin=versions.KUEUE,
                namespace=NAMESPACE,
                values=values,
                depends_on=[*args.after, *([args.monitoring] if args.monitoring is not None else [])],
            )
            self.installed = {"kueue": versions.KUEUE.version}
        self.priority_classes = []
        for pc_name, value, preempts, description in PRIORITY_CLASSES:
            k8s.scheduling.v1.PriorityClass(
                f"{name}-{pc_name}",
                metadata=object_meta(pc_name),
                value=value,
                global_default=False,
                preemption_policy="PreemptLowerPriority" if preempts else "Never",
                description=description,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.priority_classes.append(pc_name)
        self.register_outputs(
            {
                "kueue": versions.KUEUE.version if self.kueue is not None else "provided",
                "priorityClasses": self.priority_classes,
            }
        )
