"""Build the stand-in vendor apt repository the container tests serve over file://.

The real vendor repositories (CUDA, NVIDIA container toolkit, pkgs.k8s.io, containerd) are not
reachable from test machines, so each vendor package the roles install is replaced by a tiny
package with the same name and pinned version, built with dpkg-deb and indexed with
apt-ftparchive. The roles' repository, pinning and install logic then runs for real.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class StandIn:
    """One stand-in package: the files it installs are small shell stubs."""

    repo: str
    """Flat repository directory under the mirror root (as in the roles' mirror layout)."""
    name: str
    version: str
    files: dict[str, str] = field(default_factory=dict)
    """Absolute path inside the package -> file content (made executable under bin dirs)."""


def _stub(tool: str) -> str:
    return f'#!/bin/sh\n# gigafactory test stand-in for {tool}\necho "{tool} stand-in $*"\n'


# Repository paths under the mirror root, as the roles build them for Debian 12 on x86_64
# (playbooks/project/group_vars/all/mirror.yml documents the layout).
CUDA = "cuda/debian12/x86_64"
TOOLKIT = "libnvidia-container/stable/deb/amd64"
CONTAINERD = "containerd/debian"
K8S = "kubernetes/core:/stable:/v1.36/deb"
DOCA = "doca/debian"
KERNEL = "kernel/debian"

# Versions follow playbooks/project/group_vars/all/versions.yml; another version of each pinned
# package proves the roles pin the version rather than taking the newest.
STANDINS: tuple[StandIn, ...] = (
    StandIn(CUDA, "nvidia-open-580", "580.173.02-1", {"/usr/bin/nvidia-smi": _stub("nvidia-smi")}),
    StandIn(CUDA, "nvidia-open-580", "580.999.1-1", {"/usr/bin/nvidia-smi": _stub("nvidia-smi")}),
    StandIn(CUDA, "nvidia-open-595", "595.91.07-1", {"/usr/bin/nvidia-smi": _stub("nvidia-smi")}),
    StandIn(
        CUDA,
        "nvidia-persistenced-580",
        "580.173.02-1",
        {"/usr/bin/nvidia-persistenced": _stub("nvidia-persistenced")},
    ),
    StandIn(
        CUDA,
        "nvidia-fabricmanager-580",
        "580.173.02-1",
        {"/usr/bin/nv-fabricmanager": _stub("nv-fabricmanager")},
    ),
    StandIn(CUDA, "nvidia-imex-580", "580.173.02-1", {"/usr/bin/nvidia-imex": _stub("nvidia-imex")}),
    # A newer driver of the same branch, for the rollout's driver change (tests/ansible/test_rollout.py).
    StandIn(
        CUDA,
        "nvidia-persistenced-580",
        "580.999.1-1",
        {"/usr/bin/nvidia-persistenced": _stub("nvidia-persistenced")},
    ),
    StandIn(CUDA, "nvidia-imex-580", "580.999.1-1", {"/usr/bin/nvidia-imex": _stub("nvidia-imex")}),
    StandIn(
        TOOLKIT,
        "nvidia-container-toolkit",
        "1.20.0-1",
        {
            "/usr/bin/nvidia-ctk": _stub("nvidia-ctk"),
            "/usr/bin/nvidia-container-runtime": _stub("nvidia-container-runtime"),
        },
    ),
    StandIn(TOOLKIT, "nvidia-container-toolkit", "1.21.0-1", {"/usr/bin/nvidia-ctk": _stub("nvidia-ctk")}),
    StandIn(CONTAINERD, "containerd.io", "2.3.4-1", {"/usr/bin/containerd": _stub("containerd")}),
    StandIn(K8S, "kubelet", "1.36.4-1.1", {"/usr/bin/kubelet": _stub("kubelet")}),
    StandIn(K8S, "kubelet", "1.37.0-1.1", {"/usr/bin/kubelet": _stub("kubelet")}),
    StandIn(K8S, "kubeadm", "1.36.4-1.1", {"/usr/bin/kubeadm": _stub("kubeadm")}),
    StandIn(K8S, "kubectl", "1.36.4-1.1", {"/usr/bin/kubectl": _stub("kubectl")}),
    StandIn(DOCA, "doca-ofed", "3.4.1-1", {"/usr/share/doc/doca-ofed/README": "stand-in\n"}),
    # The x86_64 kernel pin (os_baseline_kernel) and the next upload, for the rollout's kernel
    # change; Ubuntu's version shape (<abi>.<upload>~24.04.1) under the pinned prefix.
    StandIn(
        KERNEL, "linux-generic-hwe-24.04", "6.17.0-19.19~24.04.1", {"/boot/README.gf-kernel": "6.17.0-19\n"}
    ),
    StandIn(
        KERNEL, "linux-generic-hwe-24.04", "6.17.0-20.20~24.04.1", {"/boot/README.gf-kernel": "6.17.0-20\n"}
    ),
)


def _build_deb(pkg: StandIn, work: Path, out: Path) -> None:
    root = work / f"{pkg.name}_{pkg.version}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {pkg.name}\nVersion: {pkg.version}\nArchitecture: all\n"
        "Maintainer: gigafactory tests <tests@invalid>\n"
        f"Description: gigafactory test stand-in for {pkg.name}\n"
    )
    for path, content in pkg.files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        target.chmod(0o755 if "/bin/" in path else 0o644)
    subprocess.run(
        [
            "dpkg-deb",
            "--root-owner-group",
            "--build",
            str(root),
            str(out / f"{pkg.name}_{pkg.version}_all.deb"),
        ],
        check=True,
        capture_output=True,
    )


def build_repo(mirror_root: Path, work: Path) -> list[str]:
    """Build every stand-in and index each flat repository; return the repository names."""
    repos = sorted({p.repo for p in STANDINS})
    for pkg in STANDINS:
        out = mirror_root / pkg.repo
        out.mkdir(parents=True, exist_ok=True)
        _build_deb(pkg, work, out)
    for repo in repos:
        d = mirror_root / repo
        packages = subprocess.run(
            ["apt-ftparchive", "packages", "."], cwd=d, check=True, capture_output=True, text=True
        ).stdout
        (d / "Packages").write_text(packages)
        release = subprocess.run(
            ["apt-ftparchive", "release", "."], cwd=d, check=True, capture_output=True, text=True
        ).stdout
        (d / "Release").write_text(release)
    return repos
