#!/usr/bin/env bash
# Install and start what the test suite needs on this machine. Idempotent.
# Today: build tools for llama-cpp-python and bubblewrap for the bwrap sandbox. Redis, PostgreSQL and the Docker engine are
# added here by the issues whose backends use them.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
command -v bwrap >/dev/null || need+=(bubblewrap)
if [ ${#need[@]} -gt 0 ]; then
    scripts/apt-install.sh "${need[@]}"
fi
