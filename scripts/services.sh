#!/usr/bin/env bash
# Install and start what the test suite needs on this machine. Idempotent.
#   - build tools for llama-cpp-python
#   - bubblewrap, for the bwrap sandbox
#   - Docker Engine (Debian's docker.io), started in the background, and the sandbox image
#   - Debian's docker-compose and the images compose.yaml runs (built locally)
#   - chromium and chromium-driver (Debian's), for the web viewer's browser tests
#   - Redis and PostgreSQL (Debian's), on loopback only, ready at
#       redis://127.0.0.1:6379/0
#       postgresql://corrigo:corrigo@127.0.0.1:5432/corrigo
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v redis-server >/dev/null || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null && command -v chromedriver >/dev/null || need+=(chromium chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
    scripts/apt-install.sh "${need[@]}"
fi

if ! docker info >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo sh -c 'nohup dockerd >/var/log/corrigo-dockerd.log 2>&1 &'
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/corrigo-dockerd.log" >&2; exit 1; }
fi
scripts/start-stores.sh
scripts/build-sandbox-image.sh
scripts/build-compose-images.sh  # compose.yaml's images, checked by tests/test_compose.py
