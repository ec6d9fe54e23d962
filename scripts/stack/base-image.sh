#!/usr/bin/env bash
# A local base image from Debian's own packages (no registry is reachable on CI machines):
# bookworm's python3 (3.11), redis-server and caddy, imported with `docker import`.
# Local use only: the host's CA bundle goes in so pip inside `docker build` can reach PyPI
# through this machine's TLS proxy; production builds use the official python image.
#
#   scripts/stack/base-image.sh [image-name]      (default companion-base:bookworm)
set -euo pipefail
IMAGE="${1:-companion-base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
if docker image inspect "${IMAGE}" >/dev/null 2>&1; then
    echo "base-image: ${IMAGE} exists"
    exit 0
fi
root="$(mktemp -d /tmp/companion-rootfs.XXXXXX)"
trap 'rm -rf "${root}"' EXIT
debootstrap --variant=minbase \
    --include=python3,python3-venv,python3-pip,ca-certificates,redis-server,caddy,procps \
    bookworm "${root}" "${MIRROR}"
# The image's pip installs into the system Python (the Dockerfile does, as with the official
# image); Debian marks it externally managed.
rm -f "${root}"/usr/lib/python3*/EXTERNALLY-MANAGED
ln -sf python3 "${root}/usr/bin/python"
cp /etc/ssl/certs/ca-certificates.crt "${root}/etc/ssl/certs/ca-certificates.crt"
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"${root}/etc/pip.conf"
rm -rf "${root}"/var/cache/apt/archives/*.deb "${root}"/var/lib/apt/lists/*
tar -C "${root}" -c . | docker import \
    --change 'ENV LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' \
    - "${IMAGE}"
echo "base-image: ${IMAGE} built"
