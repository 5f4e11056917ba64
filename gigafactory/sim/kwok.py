"""The KWOK controller's lifecycle stages, written by us (KWOK ships its defaults only as YAML
inside its module, which we never take).

Four stages, the least a simulated GPU node needs:

- ``node-ready``: a managed node whose Ready condition is not True becomes Ready (the pressure
  conditions False, phase Running); its capacity, allocatable and addresses stay as created.
- ``pod-running``: a pod bound to a node (``spec.nodeName`` set), Pending and not being deleted
  becomes Running and Ready, with a pod IP from KWOK's CIDR and its node's address as host IP.
- ``pod-delete``: a pod being deleted whose finalizers are gone is removed at once (there is
  no kubelet to confirm it; finalizers stay their owners' to remove, as with a real kubelet).
- ``pod-complete``: a Running pod that carries the annotation ``sim.gigafactory.io/exit-code``
  ends with that exit code in every container (Succeeded for 0, Failed otherwise), with the
  annotation ``sim.gigafactory.io/message`` as each container's termination message. Nothing
  runs in a simulated pod, so a test decides how it ends (a burn-in whose node fails, say);
  pods without the annotation keep running, as before.

Node leases are renewed by KWOK itself (``--node-lease-duration-seconds``), so the node
lifecycle controller keeps the nodes Ready without status heartbeats.
"""

from __future__ import annotations

from typing import Any

import yaml

MANAGED_ANNOTATION = "kwok.x-k8s.io/node"
"""Nodes carrying this annotation with value ``fake`` are KWOK's (an annotation, so the node
labels stay exactly the model's)."""
MANAGED_VALUE = "fake"

EXIT_CODE_ANNOTATION = "sim.gigafactory.io/exit-code"
"""A Running pod with this annotation ends with this exit code (a decimal integer; 0 succeeds)."""
MESSAGE_ANNOTATION = "sim.gigafactory.io/message"
"""The termination message of the containers of a pod that ``EXIT_CODE_ANNOTATION`` ends."""

LEASE_SECONDS = 120
"""Node lease duration KWOK renews, every quarter of it (30 s). The kubelet's 40 s (renewed
every 10 s) costs a 4,256-node cluster 4,256 / 10 = 426 lease writes a second, more than a
loaded 2-core machine serves besides everything else; 120 s makes it 4,256 / 30 = 142. The
controller manager's node monitor grace period is set above it (cluster.NODE_MONITOR_GRACE)."""
PARALLELISM = 64
"""Nodes (and leases, and pods) KWOK works on at once: each is a round trip to the API server
(KWOK's client has no rate limit), so it is latency-bound; its default of 4 and our earlier 16
left the API server idle between patches on a 4,256-node cluster."""
POD_CIDR = "10.0.0.1/16"
"""Fake pod addresses; never routed, only reported in pod status."""

_READY_NOT_TRUE = {
    "key": '.status.conditions.[] | select( .type == "Ready" ) | .status',
    "operator": "NotIn",
    "values": ["True"],
}

_NODE_READY_TEMPLATE = """\
{{ $now := Now }}
conditions:
- lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $now | Quote }}
  message: "kwok: simulated kubelet is ready"
  reason: KubeletReady
  status: "True"
  type: Ready
{{ range (list "MemoryPressure" "DiskPressure" "PIDPressure" "NetworkUnavailable") }}
- lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $now | Quote }}
  message: "kwok: simulated"
  reason: {{ printf "KubeletHasNo%s" . | Quote }}
  status: "False"
  type: {{ . | Quote }}
{{ end }}
{{ $nodeInfo := .status.nodeInfo }}
nodeInfo:
  architecture: {{ or $nodeInfo.architecture "amd64" | Quote }}
  containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
  kernelVersion: {{ printf "kwok-%s" Version | Quote }}
  kubeProxyVersion: ""
  kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
  operatingSystem: linux
  osImage: ""
  bootID: ""
  machineID: ""
  systemUUID: ""
phase: Running
"""

_POD_RUNNING_TEMPLATE = """\
{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: PodReadyToStartContainers
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: ContainersReady
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Ready
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  started: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
{{ $hostIPs := NodeIPsWith .spec.nodeName }}
{{ with $hostIPs }}
hostIP: {{ index . 0 | Quote }}
hostIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
{{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
{{ with $podIPs }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
phase: Running
startTime: {{ $now | Quote }}
"""

_POD_COMPLETE_TEMPLATE = """\
{{ $now := Now }}
{{ $code := index .metadata.annotations "EXIT_CODE" }}
{{ $message := or (index .metadata.annotations "MESSAGE") "" }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  reason: PodCompleted
  status: "False"
  type: ContainersReady
- lastTransitionTime: {{ $now | Quote }}
  reason: PodCompleted
  status: "False"
  type: Ready
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  started: false
  restartCount: 0
  state:
    terminated:
      exitCode: {{ $code }}
      reason: {{ if eq $code "0" }}Completed{{ else }}Error{{ end }}
      message: {{ $message | Quote }}
      startedAt: {{ $now | Quote }}
      finishedAt: {{ $now | Quote }}
{{ end }}
phase: {{ if eq $code "0" }}Succeeded{{ else }}Failed{{ end }}
""".replace("EXIT_CODE", EXIT_CODE_ANNOTATION).replace("MESSAGE", MESSAGE_ANNOTATION)


def _stage(name: str, kind: str, expressions: list[dict[str, Any]], nxt: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": kind},
            "selector": {"matchExpressions": expressions},
            "next": nxt,
        },
    }


def stages() -> list[dict[str, Any]]:
    """The Stage objects the simulator's KWOK controller runs with."""
    return [
        _stage("node-ready", "Node", [_READY_NOT_TRUE], {"statusTemplate": _NODE_READY_TEMPLATE}),
        _stage(
            "pod-running",
            "Pod",
            [
                {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                {"key": ".spec.nodeName", "operator": "Exists"},
                {"key": ".status.phase", "operator": "In", "values": ["Pending"]},
            ],
            {"statusTemplate": _POD_RUNNING_TEMPLATE},
        ),
        _stage(
            "pod-delete",
            "Pod",
            [
                {"key": ".metadata.deletionTimestamp", "operator": "Exists"},
                {"key": ".metadata.finalizers", "operator": "DoesNotExist"},
            ],
            {"delete": True},
        ),
        _stage(
            "pod-complete",
            "Pod",
            [
                {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                {"key": ".status.phase", "operator": "In", "values": ["Running"]},
                {"key": f'.metadata.annotations["{EXIT_CODE_ANNOTATION}"]', "operator": "Exists"},
            ],
            {"statusTemplate": _POD_COMPLETE_TEMPLATE},
        ),
    ]


def configuration() -> dict[str, Any]:
    """KWOK's own options that have no command-line flag."""
    return {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        "metadata": {"name": "gigafactory-sim"},
        "options": {
            "nodePlayStageParallelism": PARALLELISM,
            "nodeLeaseParallelism": PARALLELISM,
            "podPlayStageParallelism": PARALLELISM,
        },
    }


def config_text() -> str:
    """The ``--config`` file: KWOK's configuration and the stages, one YAML document each."""
    return yaml.safe_dump_all([configuration(), *stages()], sort_keys=False)


def args(kubeconfig: str, config: str, port: int) -> list[str]:
    """KWOK controller flags: only annotated nodes, health endpoint on loopback."""
    return [
        f"--kubeconfig={kubeconfig}",
        f"--config={config}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={MANAGED_ANNOTATION}={MANAGED_VALUE}",
        f"--server-address=127.0.0.1:{port}",
        f"--cidr={POD_CIDR}",
        f"--node-lease-duration-seconds={LEASE_SECONDS}",
        # One INFO line per node patch is 4,256+ lines (and CPU) for c1's first minute.
        "--v=WARN",
    ]
