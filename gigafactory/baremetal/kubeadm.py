"""kubeadm configuration from the site model, in one place: the documents that initialise a
cluster's first control plane, join further control planes and workers, and configure kubelet.

Pure Python, data in and YAML documents out (kubeadm ``v1beta4``, kubelet ``v1beta1``). A worker
registers with exactly its pool's labels and taints (``Pool.node_labels``, ``Pool.taints``); the
Ansible inventory takes its kubelet label flag from ``node_labels_arg`` here too.

Secrets are never part of these documents: the bootstrap token, the CA certificate hash and the
certificate key for control-plane joins are added by whoever runs kubeadm, at run time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from gigafactory.errors import NotFoundError
from gigafactory.site.addressing import ControlPlaneHost, control_plane_hosts
from gigafactory.site.kubernetes import API_PORT, KubernetesSpec
from gigafactory.site.model import Cluster, Pool, Site

KUBEADM_API_VERSION = "kubeadm.k8s.io/v1beta4"
KUBELET_API_VERSION = "kubelet.config.k8s.io/v1beta1"
CRI_SOCKET = "unix:///run/containerd/containerd.sock"
INIT_TOKEN_TTL = "15m0s"
"""Lifetime of the bootstrap token ``kubeadm init`` makes (its default is 24 h). Nothing uses it:
every join creates its own token on the first control plane (roles/kubeadm, kubeadm_token_ttl).
The token itself is left out of the document; kubeadm generates it."""
"""containerd's socket (the container_runtime role installs containerd)."""
CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
"""Control-plane hosts run the control plane only (kubeadm's own default, written out)."""
IMAGE_REPOSITORY = "registry.k8s.io"
"""Control-plane images; air-gapped sites point it at their registry mirror."""
ETCD_DATA_DIR = "/var/lib/etcd"

_WORKER_RE = re.compile(r"(?P<hall>.+)-r(?P<position>[0-9]{4})-n(?P<slot>[0-9]{2})")


def node_labels_arg(labels: Mapping[str, str]) -> str:
    """Labels as kubelet's ``--node-labels`` value (``k=v,k=v``, model order)."""
    return ",".join(f"{k}={v}" for k, v in labels.items())


def kubernetes_of(cluster: Cluster) -> KubernetesSpec:
    """The cluster's Kubernetes settings (the site file's ``kubernetes:`` block, defaults filled)."""
    return cluster.kubernetes


def control_planes(site: Site, cluster: Cluster) -> list[ControlPlaneHost]:
    """The cluster's control-plane hosts, first (the one ``kubeadm init`` runs on) first."""
    return [h for h in control_plane_hosts(site) if h.cluster == cluster.name]


def api_endpoint(site: Site, cluster: Cluster) -> str:
    """``host:port`` every node reaches the API servers at (kubeadm's controlPlaneEndpoint)."""
    endpoint = kubernetes_of(cluster).api_endpoint
    host = endpoint.host or control_planes(site, cluster)[0].address
    return f"{host}:{endpoint.port}"


def cluster_configuration(site: Site, cluster: Cluster) -> dict[str, Any]:
    """ClusterConfiguration: version, endpoint, networks, stacked etcd, API server names."""
    k8s = kubernetes_of(cluster)
    cps = control_planes(site, cluster)
    sans = [k8s.api_endpoint.host] if k8s.api_endpoint.host else []
    sans += [h.name for h in cps] + [h.address for h in cps]
    return {
        "apiVersion": KUBEADM_API_VERSION,
        "kind": "ClusterConfiguration",
        "clusterName": cluster.name,
        "kubernetesVersion": f"v{k8s.version}",
        "controlPlaneEndpoint": api_endpoint(site, cluster),
        "imageRepository": IMAGE_REPOSITORY,
        "networking": {
            "podSubnet": k8s.pod_cidr,
            "serviceSubnet": k8s.service_cidr,
            "dnsDomain": k8s.dns_domain,
        },
        "etcd": {"local": {"dataDir": ETCD_DATA_DIR}},
        "apiServer": {"certSANs": sans},
        "controllerManager": {
            "extraArgs": [{"name": "node-cidr-mask-size", "value": str(k8s.node_cidr_mask)}]
        },
    }


def kubelet_configuration(cluster: Cluster, *, fail_cgroup_v1: bool = True) -> dict[str, Any]:
    """KubeletConfiguration shared by every node of the cluster (kubeadm stores it in the
    kubelet-config ConfigMap at init). ``fail_cgroup_v1``: refuse cgroup v1 hosts (production);
    false only where the host is cgroup v1 and cannot change (some test machines)."""
    return {
        "apiVersion": KUBELET_API_VERSION,
        "kind": "KubeletConfiguration",
        "cgroupDriver": "systemd",
        "failCgroupV1": fail_cgroup_v1,
        "containerRuntimeEndpoint": CRI_SOCKET,
        "clusterDomain": kubernetes_of(cluster).dns_domain,
        "maxPods": 110,
    }


def _control_plane_registration(host: ControlPlaneHost) -> dict[str, Any]:
    return {
        "name": host.name,
        "criSocket": CRI_SOCKET,
        "taints": [dict(CONTROL_PLANE_TAINT)],
        "imagePullPolicy": "IfNotPresent",
    }


def worker_registration(pool: Pool, index: int) -> dict[str, Any]:
    """nodeRegistration of node ``index`` of ``pool``: its name, the taints a new node of the
    pool registers with (``Pool.registration_taints``: the pool's, plus the untested taint on
    GPU pools until a burn-in removes it; an empty list means none, not kubeadm's default) and
    the pool and topology labels."""
    return {
        "name": pool.hostname(index),
        "criSocket": CRI_SOCKET,
        "taints": [t.as_dict() for t in pool.registration_taints],
        "kubeletExtraArgs": [{"name": "node-labels", "value": node_labels_arg(pool.node_labels(index))}],
        "imagePullPolicy": "IfNotPresent",
    }


def init_configuration(site: Site, cluster: Cluster) -> dict[str, Any]:
    """InitConfiguration of the first control-plane host. Its bootstrap token has no ``token``
    (kubeadm generates one) and a short TTL (INIT_TOKEN_TTL) instead of kubeadm's 24 h."""
    first = control_planes(site, cluster)[0]
    return {
        "apiVersion": KUBEADM_API_VERSION,
        "kind": "InitConfiguration",
        "bootstrapTokens": [
            {"ttl": INIT_TOKEN_TTL, "description": "kubeadm init's token; joins make their own"}
        ],
        "nodeRegistration": _control_plane_registration(first),
        "localAPIEndpoint": {"advertiseAddress": first.address, "bindPort": API_PORT},
    }


def _join(site: Site, cluster: Cluster, registration: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": KUBEADM_API_VERSION,
        "kind": "JoinConfiguration",
        # token and caCertHashes are added at run time and never written here.
        "discovery": {"bootstrapToken": {"apiServerEndpoint": api_endpoint(site, cluster)}},
        "nodeRegistration": registration,
    }


def find_worker(cluster: Cluster, name: str) -> tuple[Pool, int] | None:
    """(pool, index) of the worker called ``name`` (``<hall>-r<position>-n<slot>``), or None."""
    m = _WORKER_RE.fullmatch(name)
    if m is None:
        return None
    position, slot = int(m["position"]), int(m["slot"])
    for pool in cluster.pools:
        if pool.hall != m["hall"] or not pool.first_rack_position <= position <= pool.last_rack_position:
            continue
        index = (position - pool.first_rack_position) * pool.spec.nodes_per_rack + slot - 1
        if 1 <= slot <= pool.spec.nodes_per_rack and index < pool.node_count:
            return pool, index
    return None


def documents(
    site: Site, cluster: Cluster, node: str | None = None, *, fail_cgroup_v1: bool = True
) -> list[dict[str, Any]]:
    """The kubeadm documents for ``node`` of ``cluster``: for the first control-plane host (the
    default), Init-, Cluster- and KubeletConfiguration; for another control-plane host, a
    JoinConfiguration with its controlPlane section; for a worker, its JoinConfiguration.
    NotFoundError names the cluster's control-plane hosts and worker name ranges."""
    cps = control_planes(site, cluster)
    if node is None or node == cps[0].name:
        return [
            init_configuration(site, cluster),
            cluster_configuration(site, cluster),
            kubelet_configuration(cluster, fail_cgroup_v1=fail_cgroup_v1),
        ]
    for host in cps[1:]:
        if host.name == node:
            join = _join(site, cluster, _control_plane_registration(host))
            # certificateKey is added at run time, like the token.
            join["controlPlane"] = {
                "localAPIEndpoint": {"advertiseAddress": host.address, "bindPort": API_PORT}
            }
            return [join]
    found = find_worker(cluster, node)
    if found is None:
        ranges = [f"{p.hostname(0)}..{p.hostname(p.node_count - 1)}" for p in cluster.pools]
        raise NotFoundError("node", node, [h.name for h in cps] + ranges, within=f"cluster {cluster.name!r}")
    pool, index = found
    return [_join(site, cluster, worker_registration(pool, index))]


WORKER_NODE_FIELDS = ("name", "taints", "kubeletExtraArgs")
"""nodeRegistration fields of a worker that ``worker_join_base`` leaves out: the kubeadm role adds
them from the inventory (host name; the pool group's ``gigafactory_registration_taints``; the
rack group's ``gigafactory_kubelet_node_labels`` as the ``node-labels`` argument), so 25,000
workers share one document instead of carrying one each. tests/ansible/test_kubeadm_documents.py
checks the role's result equals ``documents`` for each kind of node."""


def worker_join_base(site: Site, cluster: Cluster) -> dict[str, Any]:
    """A worker's JoinConfiguration without its ``WORKER_NODE_FIELDS``."""
    pool = cluster.pools[0]
    join = _join(site, cluster, worker_registration(pool, 0))
    for key in WORKER_NODE_FIELDS:
        del join["nodeRegistration"][key]
    return join


def inventory_vars(site: Site, cluster: Cluster) -> dict[str, Any]:
    """Variables of the cluster's inventory group for the kubeadm role (no secrets):
    ``gigafactory_kubeadm`` with the Kubernetes version, the API endpoint, the first
    control-plane host and a worker's JoinConfiguration base."""
    return {
        "gigafactory_kubeadm": {
            "version": kubernetes_of(cluster).version,
            "api_endpoint": api_endpoint(site, cluster),
            "first_control_plane": control_planes(site, cluster)[0].name,
            "worker_join": worker_join_base(site, cluster),
        }
    }


def control_plane_vars(site: Site, cluster: Cluster, host: ControlPlaneHost) -> dict[str, Any]:
    """Host variables of a control-plane host for the kubeadm role: its own documents
    (``gigafactory_kubeadm_documents``; Init-, Cluster- and KubeletConfiguration on the first,
    a control-plane JoinConfiguration on the others)."""
    return {"gigafactory_kubeadm_documents": documents(site, cluster, host.name)}


def dump(docs: list[dict[str, Any]]) -> str:
    """The documents as one YAML stream, fields in kubeadm's order."""
    return yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True)
