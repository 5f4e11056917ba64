"""Harness for the real kubeadm tests: container nodes that boot systemd and run a real
containerd, kubelet and kubeadm built from Go modules (the toolchain), each in its own network
namespace on a bridge the test makes, with the control-plane and pause images built locally.

Nothing is pulled and nothing leaves the bridge: the host has no address on it, the nodes'
addresses are their site-model addresses (the test's own containers, reachable only from each
other), and the test talks to the API server through `docker exec` on the first control plane.

Kubernetes and containerd come as real Debian packages built here from the toolchain binaries
(the roles' repository, pinning and install logic runs for real); NVIDIA and DOCA packages stay
stand-ins (tests/ansible/standin_repo.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ansible.conftest import (
    CACHE,
    CLUSTER,
    CONTAINER_VARS,
    DOCKER,
    MIRROR_IN_NODE,
    REPO,
    Engine,
    PlaybookResult,
    run_playbook,
    site_inventory_subset,
)
from tests.ansible.standin_repo import CONTAINERD, K8S, build_repo

# Versions the toolchain builds (toolchain/versions.env); the packages carry them, the test site
# pins them, so nothing is labelled with a version it does not contain.
KUBERNETES_VERSION = "1.36.3"
PREVIOUS_VERSION = "1.35.4"
"""The release the upgrade test's cluster starts on (toolchain component kubernetes-previous,
binaries named <command>-v1.35.4)."""
CONTAINERD_VERSION = "2.3.4"
CNI_PLUGINS_VERSION = "1.10.0"
ETCD_VERSION = "3.6.16"
PACKAGE_REVISION = "1.1"
IMAGE_REPOSITORY = "gigafactory.test"
"""Control-plane images are built here, named under a registry that does not exist."""
PAUSE_IMAGE = f"{IMAGE_REPOSITORY}/pause:gf1"
KUBEADM_PAUSE_IMAGE = f"{IMAGE_REPOSITORY}/pause:3.10.2"
"""The same pause under the tag kubeadm 1.36 names (constants.PauseVersion): `kubeadm upgrade
apply` checks the cluster with a Job that runs it (`pause -v`)."""

RUNC = Path("/usr/sbin/runc")
"""runc with seccomp: Debian 12's (package runc, installed with docker.io by
scripts/setup-docker-nodes.sh; libseccomp2 is in the node image). The toolchain's runc is built
without the seccomp tag, and kubeadm's control-plane pods ask for the RuntimeDefault profile:
with it every sandbox fails ("unable to init seccomp: seccomp: config provided but seccomp not
supported")."""

BINARIES = {
    "kubernetes": [
        "kubelet",
        "kubeadm",
        "kubectl",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ],
    "etcd": ["etcd"],
    "containerd": ["containerd", "containerd-shim-runc-v2", "ctr"],
    "cni-plugins": ["bridge", "loopback", "host-local", "portmap"],
}
NODE_IMAGE = "gigafactory/kubeadm-node:bookworm"
NODE_DIR = REPO / "scripts" / "kubeadm-node"

SLOW_TIMEOUTS = {
    "controlPlaneComponentHealthCheck": "15m0s",
    "kubeletHealthCheck": "15m0s",
    "kubernetesAPICall": "5m0s",
    "etcdAPICall": "5m0s",
    "tlsBootstrap": "15m0s",
    "discovery": "15m0s",
}
"""kubeadm v1beta4 timeouts (defaults 4m, 4m, 1m, 2m, 5m, 5m) for a loaded two-core machine."""

# The kubeadm role's additions for these nodes (all outside what a node registers with).
KUBEADM_VARS: dict[str, Any] = {
    "kubeadm_document_overrides": {
        "ClusterConfiguration": {
            "imageRepository": IMAGE_REPOSITORY,
            "etcd": {"local": {"imageTag": ETCD_VERSION}},
        },
        # The host mounts cgroup v1; kubelet 1.35+ refuses it unless told (production: true).
        "KubeletConfiguration": {"failCgroupV1": False},
        # Two cores shared with other test runs: the API server can take minutes to answer.
        "InitConfiguration": {"timeouts": SLOW_TIMEOUTS},
        "JoinConfiguration": {"timeouts": SLOW_TIMEOUTS},
    },
    # Checks a container cannot pass: kernel configuration and modules are the host's, and
    # swap, memory and CPU are shared with the test machine. ImagePull: kubeadm pre-pulls its
    # own pause tag (3.10.2), which these nodes do not use (their sandbox image is PAUSE_IMAGE)
    # and cannot pull; every control-plane image is present.
    "kubeadm_ignore_preflight_errors": [
        "SystemVerification",
        "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables",
        "NumCPU",
        "Mem",
        "ImagePull",
        # `kubeadm upgrade apply` checks the CoreDNS Deployment it would migrate; these clusters
        # have none (the addon phases are skipped below), production clusters do.
        "CoreDNSUnsupportedPlugins",
        "CoreDNSMigration",
    ],
    # No kube-proxy or CoreDNS image here; pods are not what these tests check.
    "kubeadm_skip_phases": ["addon/kube-proxy", "addon/coredns"],
}

NODE_VARS: dict[str, Any] = {
    **CONTAINER_VARS,
    # containerd and kubelet run for real under the node's systemd.
    "container_runtime_hardware": True,
    "kubelet_hardware": True,
    "container_runtime_containerd_version": CONTAINERD_VERSION,
    "kubelet_version": KUBERNETES_VERSION,
    "kubelet_package_revision": PACKAGE_REVISION,
    "container_runtime_sandbox_image": PAUSE_IMAGE,
    # The test machine gives processes an 8 MiB locked-memory hard limit and no CAP_SYS_RESOURCE
    # to raise it (production: infinity).
    "container_runtime_limit_memlock": "8M",
    # ... nor lets containerd lower OOM scores (a pod sandbox asks for -998; runc then fails with
    # "can't get final child's PID from pipe: EOF").
    "container_runtime_restrict_oom_score_adj": True,
    **KUBEADM_VARS,
}


def _suffix(version: str) -> str:
    """Name suffix of a Kubernetes release's binaries in the toolchain (the previous release's
    carry their version: they sit beside the current ones)."""
    return "" if version == KUBERNETES_VERSION else f"-v{version}"


def k8s_repo(version: str) -> str:
    """The mirror's Kubernetes repository of ``version``'s minor (pkgs.k8s.io's layout, which the
    kubelet role follows: one repository per minor release)."""
    return f"kubernetes/core:/stable:/v{'.'.join(version.split('.')[:2])}/deb"


def require_node_toolchain(versions: tuple[str, ...] = (KUBERNETES_VERSION,)) -> Path:
    """The toolchain's bin directory with every binary the nodes need (Kubernetes at each of
    ``versions``); skip locally, fail in CI."""
    from gigafactory import toolchain

    if not RUNC.is_file():
        pytest.fail(f"{RUNC} is missing: scripts/setup-docker-nodes.sh installs Debian's runc with docker.io")
    try:
        for component, names in BINARIES.items():
            for name in names:
                if component == "kubernetes":
                    for version in versions:
                        toolchain.binary(name + _suffix(version))
                else:
                    toolchain.binary(name)
        return toolchain.bin_dir()
    except toolchain.ToolchainMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must build the toolchain first: {exc}")
        pytest.skip(str(exc))


def run(*cmd: str, timeout: int = 600, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), check=True, capture_output=True, text=True, timeout=timeout, **kwargs)


# --- packages ---------------------------------------------------------------------------------

CONTAINERD_UNIT = """[Unit]
Description=containerd container runtime
After=network.target local-fs.target

[Service]
ExecStart=/usr/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
"""
KUBELET_UNIT = """[Unit]
Description=kubelet: The Kubernetes Node Agent
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=5

[Install]
WantedBy=multi-user.target
"""
# pkgs.k8s.io's drop-in (kubeadm package): kubeadm's flags file and /etc/default/kubelet.
KUBEADM_DROP_IN = """[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""
POSTINST_ENABLE = """#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable {unit} >/dev/null 2>&1 || true
    {start}
fi
"""


@dataclass(frozen=True)
class RealPackage:
    repo: str
    name: str
    version: str
    files: dict[str, Path | str]
    """Path in the package -> a file to copy (Path) or text (str)."""
    depends: str = ""
    postinst: str = ""


def real_packages(
    bin_dir: Path, version: str = KUBERNETES_VERSION, runtime: bool = True
) -> list[RealPackage]:
    """containerd (with ``runtime``) and the Kubernetes packages of ``version`` in its minor's
    repository."""

    def b(name: str) -> Path:
        return bin_dir / name

    def k(name: str) -> Path:
        return bin_dir / f"{name}{_suffix(version)}"

    k8s = f"{version}-{PACKAGE_REVISION}"
    repo = k8s_repo(version)
    containerd = [
        RealPackage(
            CONTAINERD,
            "containerd.io",
            f"{CONTAINERD_VERSION}-1",
            {
                "/usr/bin/containerd": b("containerd"),
                "/usr/bin/containerd-shim-runc-v2": b("containerd-shim-runc-v2"),
                "/usr/bin/ctr": b("ctr"),
                "/usr/bin/runc": RUNC,
                "/lib/systemd/system/containerd.service": CONTAINERD_UNIT,
            },
            postinst=POSTINST_ENABLE.format(unit="containerd", start="systemctl start containerd"),
        )
    ]
    return [
        *(containerd if runtime else []),
        RealPackage(
            repo,
            "kubernetes-cni",
            f"{CNI_PLUGINS_VERSION}-{PACKAGE_REVISION}",
            {f"/opt/cni/bin/{p}": b(p) for p in BINARIES["cni-plugins"]},
        ),
        RealPackage(
            repo,
            "kubelet",
            k8s,
            {"/usr/bin/kubelet": k("kubelet"), "/lib/systemd/system/kubelet.service": KUBELET_UNIT},
            depends="kubernetes-cni",
            postinst=POSTINST_ENABLE.format(unit="kubelet", start=""),
        ),
        RealPackage(
            repo,
            "kubeadm",
            k8s,
            {
                "/usr/bin/kubeadm": k("kubeadm"),
                "/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": KUBEADM_DROP_IN,
            },
            depends="kubelet",
        ),
        RealPackage(repo, "kubectl", k8s, {"/usr/bin/kubectl": k("kubectl")}),
    ]


def _build_real_deb(pkg: RealPackage, work: Path, out: Path) -> None:
    root = work / f"{pkg.name}_{pkg.version}"
    (root / "DEBIAN").mkdir(parents=True)
    control = (
        f"Package: {pkg.name}\nVersion: {pkg.version}\nArchitecture: amd64\n"
        "Maintainer: gigafactory tests <tests@invalid>\n"
        f"Description: {pkg.name} built from the gigafactory toolchain for the kubeadm tests\n"
    )
    if pkg.depends:
        control += f"Depends: {pkg.depends}\n"
    (root / "DEBIAN" / "control").write_text(control)
    if pkg.postinst:
        (root / "DEBIAN" / "postinst").write_text(pkg.postinst)
        (root / "DEBIAN" / "postinst").chmod(0o755)
    for path, source in pkg.files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, Path):
            os.link(source.resolve(), target) if _same_fs(source, target) else target.write_bytes(
                source.read_bytes()
            )
            target.chmod(0o755)
        else:
            target.write_text(source)
            target.chmod(0o644)
    # No compression: the binaries are large and the mirror is local.
    run(
        "dpkg-deb",
        "--root-owner-group",
        "-Znone",
        "--build",
        str(root),
        str(out / f"{pkg.name}_{pkg.version}_amd64.deb"),
    )


def _same_fs(a: Path, b: Path) -> bool:
    return os.stat(a.resolve()).st_dev == os.stat(b.parent).st_dev


def build_mirror(
    root: Path, work: Path, bin_dir: Path, versions: tuple[str, ...] = (KUBERNETES_VERSION,)
) -> Path:
    """The stand-in mirror plus the real containerd and the Kubernetes packages of each of
    ``versions`` (each in its minor's repository), indexed."""
    build_repo(root, work / "standins")
    for i, version in enumerate(versions):
        for pkg in real_packages(bin_dir, version, runtime=i == 0):
            (root / pkg.repo).mkdir(parents=True, exist_ok=True)
            # A real package replaces the stand-in of the same name and version (containerd.io at
            # the site's pin): two packages of one version would leave apt's choice to chance.
            (root / pkg.repo / f"{pkg.name}_{pkg.version}_all.deb").unlink(missing_ok=True)
            _build_real_deb(pkg, work / "real" / f"v{version}", root / pkg.repo)
    for repo in (CONTAINERD, K8S, *(k8s_repo(v) for v in versions)):
        d = root / repo
        (d / "Packages").write_text(run("apt-ftparchive", "packages", ".", cwd=d).stdout)
        (d / "Release").write_text(run("apt-ftparchive", "release", ".", cwd=d).stdout)
    return root


# --- images -----------------------------------------------------------------------------------


def _cached_pause(bin_dir: Path) -> Path:
    source = NODE_DIR / "pause" / "main.go"
    key = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    out = CACHE / "kubeadm-images" / f"pause-{key}"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        go = os.environ.get("GO", "/usr/local/go/bin/go")
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "", "GO111MODULE": "off"}
        run(go, "build", "-trimpath", "-ldflags", "-s -w", "-o", f"{out}.tmp", str(source), env=env)
        os.replace(f"{out}.tmp", out)
    return out


def control_plane_images(bin_dir: Path, version: str = KUBERNETES_VERSION) -> dict[str, tuple[Path, str]]:
    """Image name -> (binary, entry point) for every image kubeadm's control plane needs."""
    images = {
        f"{IMAGE_REPOSITORY}/{name}:v{version}": (bin_dir / f"{name}{_suffix(version)}", name)
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    }
    images[f"{IMAGE_REPOSITORY}/etcd:{ETCD_VERSION}"] = (bin_dir / "etcd", "etcd")
    images[PAUSE_IMAGE] = (_cached_pause(bin_dir), "pause")
    images[KUBEADM_PAUSE_IMAGE] = (_cached_pause(bin_dir), "pause")
    return images


def build_images(
    engine: Engine, bin_dir: Path, work: Path, versions: tuple[str, ...] = (KUBERNETES_VERSION,)
) -> Path:
    """Build the images (the control plane of each of ``versions``) FROM scratch on the test's
    engine and save them into one archive."""
    images: dict[str, tuple[Path, str]] = {}
    for version in versions:
        images.update(control_plane_images(bin_dir, version))
    names = []
    for name, (binary, command) in images.items():
        ctx = work / "images" / re.sub(r"[^A-Za-z0-9._-]", "_", name)
        ctx.mkdir(parents=True, exist_ok=True)
        target = ctx / command
        if not target.exists():
            target.write_bytes(binary.resolve().read_bytes())
            target.chmod(0o755)
        (ctx / "Dockerfile").write_text(
            "FROM scratch\n"
            f"COPY {command} /usr/local/bin/{command}\n"
            "ENV PATH=/usr/local/bin:/usr/bin:/bin\n"
            f'ENTRYPOINT ["/usr/local/bin/{command}"]\n'
        )
        engine.docker("build", "--network", "none", "-q", "-t", name, str(ctx), timeout=600)
        names.append(name)
    archive = work / "images.tar"
    engine.docker("save", "-o", str(archive), *names, timeout=600)
    return archive


def build_node_image(engine: Engine) -> str:
    run(
        "bash",
        str(REPO / "scripts" / "kubeadm-node-image.sh"),
        env={**os.environ, "GF_CACHE_DIR": str(CACHE)},
    )
    tarball = CACHE / "node-bookworm-kubeadm-r1.tar"
    base = f"{NODE_IMAGE}-base"
    with open(tarball, "rb") as f:
        subprocess.run(
            [DOCKER, "-H", f"unix://{engine.sock}", "import", "-", base],
            stdin=f,
            check=True,
            capture_output=True,
            timeout=600,
        )
    engine.docker(
        "build", "--network", "none", "-q", "--build-arg", f"BASE={base}", "-t", NODE_IMAGE, str(NODE_DIR)
    )
    return NODE_IMAGE


# --- nodes and their network --------------------------------------------------------------------


@dataclass
class KubeNodes:
    engine: Engine
    names: list[str]
    addresses: dict[str, str]
    prefix: int
    bridge: str

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """kubectl on the first control plane with its admin credentials (the API server)."""
        return self.engine.docker(
            "exec", self.names[0], "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", *args, check=check
        )

    def node(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.kubectl("get", "node", name, "-o", "json").stdout)
        return data

    def wait_ready(self, names: list[str], timeout: int = 300) -> None:
        """Wait until the nodes are Ready and the node lifecycle controller has seen it.

        The controller removes the `node.kubernetes.io/not-ready` taint on its next pass after
        the kubelet reports Ready (node-monitor-period, 5 s), so a node can be Ready and still
        carry it for a few seconds; tests that compare a node's taints wait for both.
        """
        deadline = time.monotonic() + timeout
        self.kubectl("wait", "--for=condition=Ready", f"--timeout={timeout}s", *[f"node/{n}" for n in names])
        lifecycle = {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}
        while True:
            tainted = [
                n for n in names if lifecycle & {t["key"] for t in self.node(n)["spec"].get("taints", [])}
            ]
            if not tainted:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"still tainted not-ready/unreachable after {timeout} s: {tainted}")
            time.sleep(1)


def _pid(engine: Engine, name: str) -> str:
    return engine.docker("inspect", "-f", "{{.State.Pid}}", name).stdout.strip()


def start_kube_nodes(
    engine: Engine, image: str, mirror: Path, addresses: dict[str, str], prefix: int
) -> KubeNodes:
    """Start one booted container per node and wire it to a fresh bridge at its model address."""
    bridge = f"gfk{uuid.uuid4().hex[:8]}"
    run("ip", "link", "add", "name", bridge, "type", "bridge")
    run("ip", "link", "set", bridge, "up")
    hosts = "".join(f"{a} {n}\n" for n, a in addresses.items())
    for i, (name, address) in enumerate(addresses.items()):
        engine.docker(
            "run", "-d", "--name", name, "--hostname", name,
            # Privileged but for CAP_SYS_RESOURCE, which this machine's root lacks (docker
            # --privileged asks for it and fails); devices and cgroups as a booted server has them.
            "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
            "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
            "--security-opt", "systempaths=unconfined", "--device-cgroup-rule", "a *:* rwm",
            "--device", "/dev/kmsg", "--cgroupns", "private", "--network", "none",
            "--tmpfs", "/run", "--tmpfs", "/run/lock",
            # containerd's overlay snapshots cannot sit on the container's own overlay.
            "-v", "/var/lib/containerd",
            "-v", f"{mirror}:{MIRROR_IN_NODE}:ro",
            image,
        )  # fmt: skip
        pid = _pid(engine, name)
        host_end, node_end = f"{bridge[:9]}h{i}", f"{bridge[:9]}n{i}"
        run("ip", "link", "add", host_end, "type", "veth", "peer", "name", node_end)
        run("ip", "link", "set", host_end, "master", bridge, "up")
        run("ip", "link", "set", node_end, "netns", pid)
        ns = ["nsenter", "-t", pid, "-n", "ip"]
        run(*ns, "link", "set", node_end, "name", "eth0")
        run(*ns, "addr", "add", f"{address}/{prefix}", "dev", "eth0")
        run(*ns, "link", "set", "eth0", "up")
        # A route for everything, onto a bridge that leads nowhere: kubelet finds its node IP.
        run(*ns, "route", "add", "default", "dev", "eth0")
        # What os_baseline's sysctl file sets at boot (net.* is the node's own network namespace).
        run("nsenter", "-t", pid, "-n", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        engine.exec(name, "sh", "-c", f"printf '%s' '{hosts}' >> /etc/hosts && : > /etc/resolv.conf")
    nodes = KubeNodes(engine, list(addresses), addresses, prefix, bridge)
    for name in addresses:
        _wait_booted(engine, name)
    return nodes


def _wait_booted(engine: Engine, name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        state = engine.exec(name, "systemctl", "is-system-running", check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        if time.monotonic() > deadline:
            failed = engine.exec(name, "systemctl", "--failed", "--no-pager", check=False).stdout
            raise RuntimeError(f"{name} did not boot ({state}): {failed}")
        time.sleep(1)


def stop_kube_nodes(nodes: KubeNodes) -> None:
    nodes.engine.docker("rm", "-f", "-v", *nodes.names, check=False, timeout=300)
    subprocess.run(["ip", "link", "del", nodes.bridge], check=False, capture_output=True)


def import_images(nodes: KubeNodes, archive: Path, names: list[str]) -> None:
    """Load the image archive into each node's containerd (namespace k8s.io, where CRI looks)."""
    for name in names:
        nodes.engine.docker("cp", str(archive), f"{name}:/root/images.tar")
        nodes.engine.exec(name, "ctr", "-n", "k8s.io", "images", "import", "/root/images.tar")
        nodes.engine.exec(name, "rm", "-f", "/root/images.tar")


def write_cni_config(nodes: KubeNodes, subnets: dict[str, str]) -> None:
    """A bridge network per node: what the platform's CNI (installed by Pulumi) would write."""
    for name, subnet in subnets.items():
        conf = {
            "cniVersion": "1.0.0",
            "name": "gf-test",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": False,
                    "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]]},
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        text = json.dumps(conf)
        nodes.engine.exec(
            name,
            "sh",
            "-c",
            f"mkdir -p /etc/cni/net.d && printf '%s' '{text}' > /etc/cni/net.d/10-gf-test.conflist",
        )


# --- the test site ----------------------------------------------------------------------------


def write_test_site(path: Path, version: str = KUBERNETES_VERSION) -> Path:
    """The reference site with cluster c1 at a Kubernetes version the toolchain builds."""
    data = yaml.safe_load((REPO / "sites" / "narvik.yaml").read_text())
    for cluster in data["clusters"]:
        if cluster["name"] == CLUSTER:
            cluster["kubernetes"] = {**cluster.get("kubernetes", {}), "version": version}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def redacted(text: str) -> Iterator[str]:
    """Anything in ``text`` shaped like a bootstrap token or a certificate key."""
    yield from re.findall(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b", text)
    yield from re.findall(r"\b[a-f0-9]{64}\b", text)


# --- a whole cluster --------------------------------------------------------------------------

SLOW = 1800
"""Seconds a playbook may take: the test machines have two cores shared with other test runs."""


def inventory_address(inventory: Path, host: str) -> str:
    """``host``'s model address in a static inventory written by site_inventory_subset."""
    data = yaml.safe_load(inventory.read_text())
    for group in data["all"]["children"].values():
        if host in (group.get("hosts") or {}):
            address: str = group["hosts"][host]["gigafactory_address"]
            return address
    raise AssertionError(f"{host} is not in {inventory}")


def kubectl_wrapper(engine: Engine, work: Path, control_plane: str) -> Path:
    """kubectl for the rollout role (run on the controller): the real one, on ``control_plane``."""
    script = work / "kubectl.sh"
    script.write_text(
        f"#!/bin/sh\nexec {DOCKER} -H unix://{engine.sock} exec {control_plane} "
        'kubectl --kubeconfig /etc/kubernetes/admin.conf "$@"\n'
    )
    script.chmod(0o755)
    return script


@dataclass
class Started:
    nodes: KubeNodes
    inventory: Path
    created: PlaybookResult
    """cluster.yml's first run."""


def start_cluster(
    engine: Engine,
    work: Path,
    site_file: Path,
    hosts: list[str],
    pod_subnets: dict[str, str],
    node_vars: dict[str, Any],
    versions: tuple[str, ...] = (KUBERNETES_VERSION,),
) -> Started:
    """Container nodes for ``hosts`` of ``site_file``, prepared (containerd, kubelet, kubeadm from
    the mirror), with the control-plane images of ``versions``, and cluster.yml run once. The
    caller stops the nodes (stop_kube_nodes); a failed bring-up stops them itself."""
    bin_dir = require_node_toolchain(versions)
    image = build_node_image(engine)
    mirror = build_mirror(work / "mirror", work / "debs", bin_dir, versions)
    archive = build_images(engine, bin_dir, work, versions)
    inventory = site_inventory_subset(engine, work / "inventory.yml", hosts, site_file)
    addresses = {h: inventory_address(inventory, h) for h in hosts}
    # The hall's management network is a /18 (sites/narvik.yaml: hall-a 10.16.0.0/18).
    nodes = start_kube_nodes(engine, image, mirror, addresses, 18)
    try:
        # What kubeadm needs of prepare.yml: containerd, kubelet and kubeadm (the other roles
        # run in the rollout tests and in test_prepare.py).
        prepared = run_playbook(
            "prepare.yml",
            inventory,
            extra_vars=node_vars,
            tags=["container_runtime", "kubelet"],
            timeout=SLOW,
        )
        assert prepared.rc == 0, prepared.failures()
        import_images(nodes, archive, hosts)
        write_cni_config(nodes, pod_subnets)
        created = run_playbook("cluster.yml", inventory, extra_vars=node_vars, timeout=SLOW)
        assert created.rc == 0, created.failures()
    except BaseException:
        stop_kube_nodes(nodes)
        raise
    return Started(nodes, inventory, created)
