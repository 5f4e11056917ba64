"""Storage classes: a default local class everywhere; on bare metal the local NVMe of
each node plus a shared file system (NFS CSI)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components._k8s import object_meta, release
from gigafactory.model import Cluster

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
# Provisioner of the local class per laptop platform: kind ships local-path-provisioner
# (rancher.io/local-path); minikube ships its hostpath provisioner.
LAPTOP_PROVISIONER = {"kind": "rancher.io/local-path", "minikube": "k8s.io/minikube-hostpath"}
LOCAL_CLASS = "local-path"
NVME_CLASS = "local-nvme"
SHARED_CLASS = "shared-nfs"
# Where the playbooks mount each node's NVMe scratch (nvme_cache role).
NVME_PATH = "/mnt/nvme/local-path"


@dataclass(frozen=True)
class StorageArgs:
    """Inputs of the storage layer."""

    cluster: Cluster
    """The cluster from the site model."""
    nfs_server: str
    """Shared file system server (bare metal), host name or address."""
    nfs_share: str
    """Exported path on the NFS server, e.g. /export/gigafactory."""

    after: Sequence[pulumi.Resource] = ()
    """Resources the component's releases wait for: the CNI on bare metal. Default: none."""


class Storage(pulumi.ComponentResource):
    """Storage classes per platform; ``classes`` lists their names, default first."""

    classes: list[str]
    installed: dict[str, str]
    """Chart (or manifest) versions this component installs, by component name."""

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gigafactory:storage:Storage", name, None, opts)
        cluster = args.cluster
        child = pulumi.ResourceOptions(parent=self)
        if cluster.platform != "baremetal":
            # Marked default: with two defaults Kubernetes uses the newest, this one.
            k8s.storage.v1.StorageClass(
                f"{name}-{LOCAL_CLASS}",
                metadata=object_meta(LOCAL_CLASS, annotations={DEFAULT_CLASS_ANNOTATION: "true"}),
                provisioner=LAPTOP_PROVISIONER[cluster.platform],
                volume_binding_mode="WaitForFirstConsumer",
                reclaim_policy="Delete",
                opts=child,
            )
            self.classes = [LOCAL_CLASS]
            # kind and minikube bring their own provisioner.
            self.installed = {}
        else:
            provisioner = k8s.yaml.v2.ConfigFile(
                f"{name}-local-path-provisioner",
                file=versions.LOCAL_PATH_MANIFEST,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
            )
            k8s.storage.v1.StorageClass(
                f"{name}-{NVME_CLASS}",
                metadata=object_meta(NVME_CLASS, annotations={DEFAULT_CLASS_ANNOTATION: "true"}),
                provisioner="rancher.io/local-path",
                parameters={"nodePath": NVME_PATH},
                volume_binding_mode="WaitForFirstConsumer",
                reclaim_policy="Delete",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[provisioner]),
            )
            nfs = release(
                f"{name}-csi-driver-nfs",
                self,
                chart=versions.NFS_CSI_CHART,
                repo=versions.NFS_CSI_REPO,
                version=versions.NFS_CSI_VERSION,
                namespace="kube-system",
                values={"driver": {"name": "nfs.csi.k8s.io"}},
                depends_on=args.after,
            )
            k8s.storage.v1.StorageClass(
                f"{name}-{SHARED_CLASS}",
                metadata=object_meta(SHARED_CLASS),
                provisioner="nfs.csi.k8s.io",
                parameters={"server": args.nfs_server, "share": args.nfs_share},
                mount_options=["nfsvers=4.1", "hard"],
                volume_binding_mode="Immediate",
                reclaim_policy="Retain",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[nfs]),
            )
            self.classes = [NVME_CLASS, SHARED_CLASS]
            self.installed = {
                "local-path-provisioner": versions.LOCAL_PATH_VERSION,
                "csi-driver-nfs": versions.NFS_CSI_VERSION,
            }
        self.register_outputs({"classes": self.classes})
