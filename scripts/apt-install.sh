#!/usr/bin/env bash
# Install Debian packages, running `apt-get update` once per machine first.
set -euo pipefail
missing=()
for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
stamp=/var/lib/apt/periodic/corrigo-updated
if [ ! -e "$stamp" ]; then
    $sudo apt-get update -qq
    $sudo mkdir -p "$(dirname "$stamp")" && $sudo touch "$stamp"
fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
