#!/usr/bin/env bash
# The whole test suite from a fresh clone: services, install, lint, types, tests.
# Extra arguments go to pytest (e.g. scripts/test.sh -k story).
# As root, a full run (no arguments) then runs the sandbox conformance suite again as an
# unprivileged user (scripts/test-unprivileged.sh), where the sandbox's known gaps live.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
scripts/install.sh local,docker,postgres,redis,serve,instructions,ray,dev
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest "$@"
if [ "$(id -u)" -ne 0 ]; then
    echo "== pytest (unprivileged): the run above was already unprivileged"
elif [ $# -gt 0 ]; then
    echo "== pytest (unprivileged): skipped for a partial run; scripts/test-unprivileged.sh runs it"
else
    scripts/test-unprivileged.sh
fi
