"""kind cluster config for a laptop stack: one kind node per node of the model's pools,
each carrying its pool's labels (topology included) and taints, so the platform's Kueue
flavors match real nodes. No Pulumi here: the CLI prints it, scripts/kind-up.sh uses it.
"""

from __future__ import annotations

from typing import Any

from gigafactory.errors import StackConfigError
from gigafactory.site.model import Cluster, Site

# kind v0.33.0 release notes, "Images pre-built for this release": Kubernetes 1.36.4
# (VERSIONS.md). Pinned by digest, as kind asks: tags can point at builds for another
# kind release.
KIND_VERSION = "v0.33.0"
KIND_NODE_IMAGE = (
    "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed"
)
KIND_API_VERSION = "kind.x-k8s.io/v1alpha4"
DEFAULT_NAME = "gigafactory"
"""kind cluster name; its kubeconfig context is kind-<name> (stacks/Pulumi.kind.yaml)."""
MAX_NODES = 32
"""A laptop runs a few node containers; larger clusters are not kind clusters."""


def _taint_patch(taints: list[dict[str, str]]) -> str:
    # Unversioned kubeadm patch: kind converts it to the kubeadm API of the node image
    # (v1beta4 on Kubernetes 1.36).
    lines = ["kind: JoinConfiguration", "nodeRegistration:", "  taints:"]
    for t in taints:
        lines += [f"  - key: {t['key']}", f'    value: "{t["value"]}"', f"    effect: {t['effect']}"]
    return "\n".join(lines) + "\n"


def kind_config(site: Site, cluster: Cluster, name: str = DEFAULT_NAME) -> dict[str, Any]:
    """The kind ``Cluster`` config for ``cluster`` of ``site``: control-plane nodes, then
    one worker per pool node with ``Pool.node_labels`` and ``Pool.taints``."""
    if cluster.platform != "kind":
        raise StackConfigError(
            f"cluster {cluster.name!r} of site {site.name!r} runs on {cluster.platform}; "
            "kind-config needs a cluster with platform: kind"
        )
    if cluster.nodes + cluster.control_plane_count > MAX_NODES:
        raise StackConfigError(
            f"cluster {cluster.name!r} has {cluster.nodes} nodes; a kind cluster takes at most {MAX_NODES}"
        )
    nodes: list[dict[str, Any]] = [
        {"role": "control-plane", "image": KIND_NODE_IMAGE} for _ in range(cluster.control_plane_count)
    ]
    for pool in cluster.pools:
        taints = [t.as_dict() for t in pool.taints]
        for index in range(pool.node_count):
            node: dict[str, Any] = {
                "role": "worker",
                "image": KIND_NODE_IMAGE,
                "labels": pool.node_labels(index),
            }
            if taints:
                node["kubeadmConfigPatches"] = [_taint_patch(taints)]
            nodes.append(node)
    return {"kind": "Cluster", "apiVersion": KIND_API_VERSION, "name": name, "nodes": nodes}
