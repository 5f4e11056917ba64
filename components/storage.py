"""Storage classes: a default local class everywhere; on bare metal the NVMe cache of each
node (local-path-provisioner) plus a shared file system (NFS CSI)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import versions
from components._k8s import object_meta, release
from gigafactory.site.model import LABEL_ROLE, Cluster

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
# Provisioner of the local class per laptop platform: kind ships local-path-provisioner
# (rancher.io/local-path); minikube ships its hostpath provisioner; on KWOK's simulated nodes
# volumes are local PersistentVolumes made by hand, which the class binds where the pod runs.
LAPTOP_PROVISIONER = {
    "kind": "rancher.io/local-path",
    "minikube": "k8s.io/minikube-hostpath",
    "kwok": "kubernetes.io/no-provisioner",
}
LOCAL_CLASS = "local-path"
NVME_CLASS = "local-nvme"
SHARED_CLASS = "shared-nfs"
# Volumes live on the NVMe cache the playbooks mount on every node (nvme_cache role,
# nvme_cache_mount: /var/lib/gigafactory/cache).
NVME_PATH = "/var/lib/gigafactory/cache/volumes"
LOCAL_PATH_NAMESPACE = "local-path-storage"
LOCAL_PATH_NAME = "local-path-provisioner"
LOCAL_PATH_PROVISIONER = "rancher.io/local-path"

# The provisioner runs these in a helper pod on the volume's node ($VOL_DIR is set by it).
_SETUP = '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n'
_TEARDOWN = '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n'
_HELPER_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "helper-pod"},
    "spec": {
        "priorityClassName": "system-node-critical",
        # Volumes are made on every pool's nodes, tainted ones included.
        "tolerations": [{"operator": "Exists"}],
        "containers": [
            {
                "name": "helper-pod",
                "image": versions.LOCAL_PATH_HELPER_IMAGE,
                "imagePullPolicy": "IfNotPresent",
            }
        ],
    },
}


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
        if cluster.platform != "baremetal":
            # Marked default: with two defaults Kubernetes uses the newest, this one.
            self._storage_class(
                name,
                LOCAL_CLASS,
                LAPTOP_PROVISIONER[cluster.platform],
                default=True,
                binding="WaitForFirstConsumer",
                reclaim="Delete",
            )
            self.classes = [LOCAL_CLASS]
            # kind and minikube bring their own provisioner.
            self.installed = {}
        else:
            provisioner = self._local_path_provisioner(name, args.after)
            self._storage_class(
                name,
                NVME_CLASS,
                LOCAL_PATH_PROVISIONER,
                default=True,
                binding="WaitForFirstConsumer",
                reclaim="Delete",
                parameters={"nodePath": NVME_PATH},
                depends_on=[provisioner],
            )
            nfs = release(
                f"{name}-csi-driver-nfs",
                self,
                pin=versions.NFS_CSI,
                namespace="kube-system",
                values={"driver": {"name": "nfs.csi.k8s.io"}},
                depends_on=args.after,
            )
            self._storage_class(
                name,
                SHARED_CLASS,
                "nfs.csi.k8s.io",
                default=False,
                binding="Immediate",
                reclaim="Retain",
                parameters={"server": args.nfs_server, "share": args.nfs_share},
                mount_options=["nfsvers=4.1", "hard"],
                depends_on=[nfs],
            )
            self.classes = [NVME_CLASS, SHARED_CLASS]
            self.installed = {
                "local-path-provisioner": versions.LOCAL_PATH_VERSION,
                "csi-driver-nfs": versions.NFS_CSI.version,
            }
        self.register_outputs({"classes": self.classes})

    def _storage_class(
        self,
        name: str,
        class_name: str,
        provisioner: str,
        *,
        default: bool,
        binding: str,
        reclaim: str,
        parameters: dict[str, str] | None = None,
        mount_options: list[str] | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> k8s.storage.v1.StorageClass:
        return k8s.storage.v1.StorageClass(
            f"{name}-{class_name}",
            metadata=object_meta(
                class_name, annotations={DEFAULT_CLASS_ANNOTATION: "true"} if default else None
            ),
            provisioner=provisioner,
            parameters=parameters,
            mount_options=mount_options,
            volume_binding_mode=binding,
            reclaim_policy=reclaim,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )

    def _local_path_provisioner(self, name: str, after: Sequence[pulumi.Resource]) -> k8s.apps.v1.Deployment:
        """local-path-provisioner, configured for the NVMe cache path (a class's nodePath
        must be listed in the provisioner's nodePathMap)."""
        ns = LOCAL_PATH_NAMESPACE
        child = pulumi.ResourceOptions(parent=self)
        namespace = k8s.core.v1.Namespace(
            f"{name}-local-path-namespace", metadata=object_meta(ns), opts=child
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        account = k8s.core.v1.ServiceAccount(
            f"{name}-local-path-account", metadata=object_meta(LOCAL_PATH_NAME, ns), opts=in_ns
        )
        subject = k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=LOCAL_PATH_NAME, namespace=ns)
        # Helper pods in its own namespace.
        k8s.rbac.v1.Role(
            f"{name}-local-path-role",
            metadata=object_meta(LOCAL_PATH_NAME, ns),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""],
                    resources=["pods"],
                    verbs=["get", "list", "watch", "create", "patch", "update", "delete"],
                )
            ],
            opts=in_ns,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-local-path-rolebinding",
            metadata=object_meta(LOCAL_PATH_NAME, ns),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=LOCAL_PATH_NAME
            ),
            subjects=[subject],
            opts=in_ns,
        )
        # Volumes, claims and classes cluster-wide.
        k8s.rbac.v1.ClusterRole(
            f"{name}-local-path-clusterrole",
            metadata=object_meta(LOCAL_PATH_NAME),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""],
                    resources=["nodes", "persistentvolumeclaims", "configmaps", "pods", "pods/log"],
                    verbs=["get", "list", "watch"],
                ),
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=[""],
                    resources=["persistentvolumes"],
                    verbs=["get", "list", "watch", "create", "patch", "update", "delete"],
                ),
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["events"], verbs=["create", "patch"]),
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["storage.k8s.io"],
                    resources=["storageclasses"],
                    verbs=["get", "list", "watch"],
                ),
            ],
            opts=child,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-local-path-clusterrolebinding",
            metadata=object_meta(LOCAL_PATH_NAME),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=LOCAL_PATH_NAME
            ),
            subjects=[subject],
            opts=in_ns,
        )
        config = {"nodePathMap": [{"node": "DEFAULT_PATH_FOR_NON_LISTED_NODES", "paths": [NVME_PATH]}]}
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-local-path-config",
            metadata=object_meta(f"{LOCAL_PATH_NAME}-config", ns),
            data={
                "config.json": json.dumps(config, indent=2),
                "setup": _SETUP,
                "teardown": _TEARDOWN,
                # The provisioner reads this file as YAML; JSON is YAML.
                "helperPod.yaml": json.dumps(_HELPER_POD, indent=2),
            },
            opts=in_ns,
        )
        labels = {"app": LOCAL_PATH_NAME}
        probe = k8s.core.v1.HTTPGetActionArgs(path="/health", port="health")
        return k8s.apps.v1.Deployment(
            f"{name}-local-path-provisioner",
            metadata=object_meta(LOCAL_PATH_NAME, ns),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=LOCAL_PATH_NAME,
                        # The untainted system pool runs the platform's controllers.
                        node_selector={LABEL_ROLE: "system"},
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name=LOCAL_PATH_NAME,
                                image=versions.LOCAL_PATH_IMAGE,
                                image_pull_policy="IfNotPresent",
                                command=[
                                    "local-path-provisioner",
                                    "start",
                                    "--config",
                                    "/etc/config/config.json",
                                    "--provisioner-name",
                                    LOCAL_PATH_PROVISIONER,
                                    "--configmap-name",
                                    f"{LOCAL_PATH_NAME}-config",
                                    "--service-account-name",
                                    LOCAL_PATH_NAME,
                                    "--helper-image",
                                    versions.LOCAL_PATH_HELPER_IMAGE,
                                ],
                                ports=[k8s.core.v1.ContainerPortArgs(name="health", container_port=8080)],
                                liveness_probe=k8s.core.v1.ProbeArgs(http_get=probe, period_seconds=10),
                                env=[
                                    k8s.core.v1.EnvVarArgs(
                                        name="POD_NAMESPACE",
                                        value_from=k8s.core.v1.EnvVarSourceArgs(
                                            field_ref=k8s.core.v1.ObjectFieldSelectorArgs(
                                                field_path="metadata.namespace"
                                            )
                                        ),
                                    ),
                                    k8s.core.v1.EnvVarArgs(name="CONFIG_MOUNT_PATH", value="/etc/config/"),
                                    k8s.core.v1.EnvVarArgs(name="HEALTH_PORT", value="8080"),
                                ],
                                volume_mounts=[
                                    k8s.core.v1.VolumeMountArgs(name="config", mount_path="/etc/config/")
                                ],
                            )
                        ],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="config",
                                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                    name=f"{LOCAL_PATH_NAME}-config"
                                ),
                            )
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, namespace, account, config_map]),
        )
