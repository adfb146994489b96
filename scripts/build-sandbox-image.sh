#!/usr/bin/env bash
# Build corrigo's sandbox image without a registry: a minimal Debian root made with
# debootstrap, imported into Docker, with docker/sandbox.Dockerfile on top.
#   scripts/build-sandbox-image.sh            build once (skip if the image exists)
#   REBUILD=1 scripts/build-sandbox-image.sh  build again
#   BASE=python:3.11-slim scripts/build-sandbox-image.sh   where a registry is reachable
set -euo pipefail
cd "$(dirname "$0")/.."
image="${CORRIGO_SANDBOX_IMAGE:-corrigo-sandbox:latest}"
base="${BASE:-corrigo-sandbox-base:bookworm}"
if [ -z "${REBUILD:-}" ] && docker image inspect "$image" >/dev/null 2>&1; then
    echo "sandbox image $image is present"
    exit 0
fi
if [ "$base" = "corrigo-sandbox-base:bookworm" ] && { [ -n "${REBUILD:-}" ] || ! docker image inspect "$base" >/dev/null 2>&1; }; then
    command -v debootstrap >/dev/null || scripts/apt-install.sh debootstrap
    mirror="$( (grep -rhoE "https?://deb[.]debian[.]org/debian/?" /etc/apt/sources.list /etc/apt/sources.list.d 2>/dev/null || true) | head -n1)"
    mirror="${mirror:-http://deb.debian.org/debian}"
    root="$(mktemp -d /tmp/corrigo-rootfs.XXXXXX)"
    trap 'rm -rf "$root"' EXIT
    echo "debootstrap bookworm into $root (about two minutes)"
    debootstrap --variant=minbase --include=python3 bookworm "$root" "$mirror" >/dev/null
    tar -C "$root" -c . | docker import - "$base" >/dev/null
fi
docker build --quiet --build-arg "BASE=$base" -t "$image" -f docker/sandbox.Dockerfile docker >/dev/null
echo "built sandbox image $image"
