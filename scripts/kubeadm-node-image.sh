#!/usr/bin/env bash
# Build the root file system of the kubeadm test nodes (tests/ansible/test_kubeadm*.py) and cache
# it as a tarball, idempotently. Unlike the plain node image (setup-docker-nodes.sh) these nodes
# boot systemd, run containerd and kubelet, and live in their own network namespace on a bridge
# the test makes, with no way out: every Debian package the roles install is already in the image
# (as in a site's golden OS image) and apt has no Debian source, only the roles' file:// mirror.
#
# This is the Debian part only (debootstrap, minutes); the test adds the entry point and masks the
# units that would touch host-wide state with scripts/kubeadm-node/Dockerfile (seconds).
#
# Environment:
#   GF_CACHE_DIR  cache directory (default: /var/cache/gigafactory)
set -euo pipefail

cache_dir="${GF_CACHE_DIR:-/var/cache/gigafactory}"
# Bump when the recipe changes, so cached tarballs are rebuilt.
recipe=1
tarball="${cache_dir}/node-bookworm-kubeadm-r${recipe}.tar"

# python3*: Ansible; systemd..dbus: init; chrony..xfsprogs: what os_baseline, infiniband and
# nvme_cache install from Debian; iproute2..socat: what kubeadm's preflight and kubelet use.
packages=(
    python3 python3-apt python3-debian ca-certificates
    systemd systemd-sysv dbus
    chrony kmod procps rdma-core ibverbs-utils infiniband-diags mdadm nvme-cli xfsprogs
    iproute2 iptables conntrack ethtool socat ebtables
)

if [[ -s "${tarball}" ]]; then
    echo "kubeadm-node-image: ${tarball} is cached"
    exit 0
fi
command -v debootstrap >/dev/null 2>&1 || { echo "kubeadm-node-image: needs debootstrap (scripts/setup-docker-nodes.sh installs it)"; exit 1; }

mkdir -p "${cache_dir}"
rootfs="$(mktemp -d "${cache_dir}/rootfs-kubeadm.XXXXXX")"
trap 'rm -rf "${rootfs}"' EXIT
echo "kubeadm-node-image: debootstrap bookworm into ${rootfs}"
include="$(IFS=,; echo "${packages[*]}")"
debootstrap --variant=minbase --include="${include}" bookworm "${rootfs}" >"${cache_dir}/debootstrap-kubeadm.log" 2>&1 \
    || { tail -20 "${cache_dir}/debootstrap-kubeadm.log"; exit 1; }

# No Debian source: the nodes cannot reach a mirror; the roles add their file:// mirror.
: >"${rootfs}/etc/apt/sources.list"
rm -rf "${rootfs}"/var/lib/apt/lists/* "${rootfs}"/var/cache/apt/archives/*.deb
: >"${rootfs}/etc/machine-id"

tar -C "${rootfs}" -cf "${tarball}.tmp" .
mv "${tarball}.tmp" "${tarball}"
echo "kubeadm-node-image: wrote ${tarball} ($(du -h "${tarball}" | cut -f1))"
