"""Per-cluster Kubernetes settings of a site file: API endpoint, pod and service networks,
Kubernetes version (the ``kubernetes:`` block of a cluster; every field has a default, so a
site file without the block stays valid).

Input types only check each field on its own; ``network_findings`` checks the networks against
the halls and the cluster size, where the whole site is known.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator

from pydantic import BaseModel, ConfigDict, Field, field_validator

KUBERNETES_VERSION = "1.36.4"
"""Default Kubernetes release of a cluster; tests/test_versions_agree.py keeps it equal to the
renderer's, kind's and the host packages' (playbooks/project/group_vars/all/versions.yml)."""

DEFAULT_POD_CIDR = "10.128.0.0/11"
"""8,192 node subnets of /24: more than the 5,000 nodes a Kubernetes cluster is tested to."""
DEFAULT_SERVICE_CIDR = "10.96.0.0/16"
"""kubeadm's default range, cut to 65,536 services (the API server allows at most /12)."""
API_PORT = 6443

_VERSION_RE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")
_HOST_RE = re.compile(
    r"(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*"
)


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def _network(v: str) -> str:
    try:
        ipaddress.IPv4Network(v, strict=True)
    except ValueError:
        shown = v if len(v) <= 60 else v[:57] + "..."
        raise ValueError(f"{shown!r} is not an IPv4 network; allowed: CIDR such as 10.128.0.0/11") from None
    return v


class ApiEndpoint(_Strict):
    host: str | None = None
    """DNS name or virtual IP in front of the API servers; default: the first control-plane
    host's management address (no failover: set a VIP or DNS name for 3 or 5 control planes)."""
    port: int = Field(default=API_PORT, ge=1, le=65535)

    @field_validator("host")
    @classmethod
    def _host(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            ipaddress.IPv4Address(v)
            return v
        except ValueError:
            pass
        if not _HOST_RE.fullmatch(v):
            raise ValueError(f"{v!r} is not a DNS name or IPv4 address; allowed: e.g. api.c1.example.net")
        return v


class KubernetesSpec(_Strict):
    """A cluster's Kubernetes control plane and networks (etcd is stacked on the control planes)."""

    version: str = KUBERNETES_VERSION
    """Kubernetes release X.Y.Z (kubeadm, kubelet)."""
    api_endpoint: ApiEndpoint = ApiEndpoint()
    pod_cidr: str = DEFAULT_POD_CIDR
    """Pod network; each node gets a /``node_cidr_mask`` of it."""
    node_cidr_mask: int = Field(default=24, ge=16, le=28)
    """Prefix length of each node's pod subnet (24: 256 addresses, 110 pods)."""
    service_cidr: str = DEFAULT_SERVICE_CIDR
    """Service (cluster IP) network, at most a /12."""
    dns_domain: str = "cluster.local"

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not _VERSION_RE.fullmatch(v):
            raise ValueError(
                f"{v!r} is not a Kubernetes release; allowed: X.Y.Z such as {KUBERNETES_VERSION}"
            )
        return v

    @field_validator("pod_cidr", "service_cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        return _network(v)

    @field_validator("service_cidr")
    @classmethod
    def _service_size(cls, v: str) -> str:
        if ipaddress.IPv4Network(v).prefixlen < 12:
            raise ValueError(f"{v!r} is larger than the API server allows; allowed: /12 or smaller")
        return v

    @field_validator("dns_domain")
    @classmethod
    def _dns(cls, v: str) -> str:
        if not _HOST_RE.fullmatch(v):
            raise ValueError(f"{v!r} is not a DNS domain; allowed: e.g. cluster.local")
        return v


def network_findings(
    spec: KubernetesSpec, hall_networks: Iterable[tuple[str, str]], nodes: int
) -> Iterator[tuple[str, str]]:
    """(field, message) for each clash: pod and service networks overlapping each other or a
    hall network (``(name, cidr)`` pairs, e.g. ``("hall-a mgmt_cidr", "10.16.0.0/18")``), and a
    pod network too small for one node subnet per node."""
    pods = ipaddress.IPv4Network(spec.pod_cidr)
    services = ipaddress.IPv4Network(spec.service_cidr)
    if pods.overlaps(services):
        yield "service_cidr", f"service_cidr {services} overlaps pod_cidr {pods}"
    for name, cidr in hall_networks:
        net = ipaddress.IPv4Network(cidr)
        for field, ours in (("pod_cidr", pods), ("service_cidr", services)):
            if ours.overlaps(net):
                yield field, f"{field} {ours} overlaps {name} {net}"
    if spec.node_cidr_mask < pods.prefixlen:
        yield "node_cidr_mask", f"node_cidr_mask /{spec.node_cidr_mask} is larger than pod_cidr {pods}"
    else:
        subnets = 2 ** (spec.node_cidr_mask - pods.prefixlen)
        if subnets < nodes:
            held = f"holds {subnets} node subnets of /{spec.node_cidr_mask}"
            yield "pod_cidr", f"pod_cidr {pods} {held}; the cluster has {nodes} nodes"
