"""The cluster's CNI, per platform: Cilium on bare metal, the laptop's own elsewhere.

Built first: on a fresh bare-metal cluster no pod starts before the CNI runs, so every
other release of the stack waits for this one (``Cni.ready``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components import versions
from components._k8s import release
from gigafactory.site.model import LABEL_ROLE, Cluster

# CNI per platform: kind ships kindnet (which enforces NetworkPolicy); minikube is
# started with its Cilium CNI (docs/pulumi.md); bare metal gets Cilium from this program.
# KWOK's simulated nodes get pod addresses from KWOK itself, without a CNI.
CNI = {"baremetal": "cilium", "kind": "kindnet", "minikube": "cilium", "kwok": "none"}


@dataclass(frozen=True)
class CniArgs:
    """Inputs of the CNI."""

    cluster: Cluster
    """The cluster from the site model (its platform picks the CNI)."""
    provided: bool = False
    """The environment brings its CNI: nothing is installed, whatever the platform."""


class Cni(pulumi.ComponentResource):
    """Cilium on bare metal; nothing to install on kind or minikube."""

    name: str
    """The CNI in use: cilium or kindnet."""
    installed: dict[str, str]
    """Chart (or manifest) versions this component installs, by component name."""
    ready: list[pulumi.Resource]
    """What other releases wait for: the CNI release, or nothing on laptops."""

    def __init__(self, name: str, args: CniArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gigafactory:cni:Cni", name, None, opts)
        self.name = "provided" if args.provided else CNI[args.cluster.platform]
        self.ready = []
        self.installed = {}
        if args.cluster.platform == "baremetal" and not args.provided:
            cilium = release(
                f"{name}-cilium",
                self,
                pin=versions.CILIUM,
                namespace="kube-system",
                values={
                    # Multus (Network Operator) chains secondary networks: Cilium must not
                    # own /etc/cni/net.d alone.
                    "cni": {"exclusive": False},
                    "ipam": {"mode": "kubernetes"},
                    "hubble": {"enabled": True},
                    # Let ipBlock/CIDR policies match node addresses (policy-cidr-match-mode:
                    # nodes): tenants reach the host-network API servers by their addresses.
                    "policyCIDRMatchMode": ["nodes"],
                    "operator": {"nodeSelector": {LABEL_ROLE: "system"}},
                },
            )
            self.ready.append(cilium)
            self.installed["cilium"] = versions.CILIUM.version
        self.register_outputs({"cni": self.name})
