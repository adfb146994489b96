#!/usr/bin/env bash
# The whole test suite from a fresh clone: services, install, lint, types, tests.
# Extra arguments go to pytest (e.g. scripts/test.sh -k story).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
scripts/install.sh local,docker,postgres,redis,serve,dev
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest "$@"
