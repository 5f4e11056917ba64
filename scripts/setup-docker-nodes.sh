#!/usr/bin/env bash
# Prepare this machine for the Ansible container tests (tests/ansible), idempotently:
#   1. install the Docker engine, debootstrap and the apt repository tools from Debian;
#   2. build a Debian 12 root file system with debootstrap and cache it as a tarball.
# The test session (tests/ansible/conftest.py) starts its own engine on a private socket,
# imports the tarball as the node image and removes everything again; no image is ever pulled.
#
# Environment:
#   GF_CACHE_DIR  where the root file system tarball is cached (default: /var/cache/gigafactory,
#                 outside the work tree so fresh clones in CI reuse it)
#   GF_SUITE      Debian suite of the node image (default: bookworm)
set -euo pipefail

cache_dir="${GF_CACHE_DIR:-/var/cache/gigafactory}"
suite="${GF_SUITE:-bookworm}"
# Bump the recipe number when the image recipe changes, so cached tarballs are rebuilt.
recipe=2
tarball="${cache_dir}/node-${suite}-r${recipe}.tar"

# What a freshly installed server already has: Ansible needs python3 (and python3-apt for the apt modules).
image_packages="python3,python3-apt,ca-certificates"

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v apt-ftparchive >/dev/null 2>&1 || need+=(apt-utils)
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg)
if ((${#need[@]})); then
    echo "setup-docker-nodes: installing ${need[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

if [[ -s "${tarball}" ]]; then
    echo "setup-docker-nodes: ${tarball} is cached"
    exit 0
fi

mkdir -p "${cache_dir}"
rootfs="$(mktemp -d "${cache_dir}/rootfs.XXXXXX")"
trap 'rm -rf "${rootfs}"' EXIT
echo "setup-docker-nodes: debootstrap ${suite} into ${rootfs}"
debootstrap --variant=minbase --include="${image_packages}" "${suite}" "${rootfs}" >"${cache_dir}/debootstrap.log" 2>&1 \
    || { tail -20 "${cache_dir}/debootstrap.log"; exit 1; }
# Keep the image small: no apt lists or package cache; mark the (empty) package index as old,
# as on a node installed some time ago, so roles refresh it before installing.
rm -rf "${rootfs}"/var/lib/apt/lists/* "${rootfs}"/var/cache/apt/archives/*.deb
touch -d "2000-01-01" "${rootfs}/var/lib/apt/lists"
tar -C "${rootfs}" -cf "${tarball}.tmp" .
mv "${tarball}.tmp" "${tarball}"
echo "setup-docker-nodes: wrote ${tarball} ($(du -h "${tarball}" | cut -f1))"
