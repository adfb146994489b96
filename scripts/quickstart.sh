#!/usr/bin/env bash
# corrigo's main job on its embedded defaults, from a fresh clone: install, pull the
# local model (Qwen2.5-Coder-1.5B), run a few HumanEval tasks through `best_of_n` with the
# SQLite store and the process sandbox, then show one run round by round.
#   scripts/quickstart.sh [TASKS]     (default: humaneval[:5])
set -euo pipefail
cd "$(dirname "$0")/.."
tasks="${1:-humaneval[:5]}"
scripts/install.sh local
.venv/bin/corrigo models pull qwen2.5-coder-1.5b
.venv/bin/corrigo run "$tasks" --strategy best_of_n --max-rounds 3 --concurrency 1
.venv/bin/corrigo show last
