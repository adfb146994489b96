#!/usr/bin/env bash
# self_debug with and without traces on the five HumanEval/0-39 tasks it failed (3 rounds)
set -euo pipefail
cd /work/main
export CORRIGO_HOME=/work/bench-home CORRIGO_REPLY_CACHE=/work/bench-home/reply-cache.jsonl
.venv/bin/corrigo bench 'humaneval:HumanEval/10,HumanEval/26,HumanEval/32,HumanEval/33,HumanEval/37' \
  -s 'self_debug(trace=False)' -s self_debug \
  --models local:qwen2.5-coder-1.5b -j 1 --max-rounds 3 --out benchmarks/results/traces5
