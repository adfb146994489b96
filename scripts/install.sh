#!/usr/bin/env bash
# Create .venv and install corrigo into it with the given extras (default: local).
#   scripts/install.sh            corrigo[local]      (the main job)
#   scripts/install.sh local,dev  corrigo[local,dev]  (the test suite)
# llama-cpp-python builds from source (~8 minutes the first time; pip caches the wheel).
# GGML_NATIVE=OFF: a build tuned to the build machine's CPU crashes on some CPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-local}"

if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null; then
    scripts/apt-install.sh cmake g++
fi
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
CMAKE_ARGS="-DGGML_NATIVE=OFF" .venv/bin/python -m pip install --quiet --editable ".[${extras}]"
