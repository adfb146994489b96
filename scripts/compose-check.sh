#!/usr/bin/env bash
# compose.yaml end to end: build the images (scripts/build-compose-images.sh), bring the
# stack up under a project name of its own, run a task through corrigo in it against
# PostgreSQL and against Redis (scripted model, refine strategy: a buggy first answer, a
# critique, a fix), read each run back with `corrigo runs` and `corrigo show last`, bring
# the stack down and up again to see both runs survive on the named volumes, and finally
# `down -v`: always, on failure too. On the way, the `serve` service (corrigo serve, the
# HTTP API) is started with a throwaway token and a run is submitted to it over HTTP from
# the corrigo container, inside the compose network, and followed to its outcome; then the
# `ray` profile (a Ray head, a worker and serve-ray, corrigo serve --executor ray) gets a
# run the same way, which must be executed by an actor on the worker's node. Exits non-zero,
# saying what failed, on any failure.
#   scripts/compose-check.sh
#   COMPOSE="docker compose" scripts/compose-check.sh     another compose (default: Debian's
#                                                         docker-compose, installed if missing)
#   KEEP=1 scripts/compose-check.sh                       leave the stack up for a look
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
pg_url="postgresql://corrigo:corrigo@postgres:5432/corrigo"
redis_url="redis://redis:6379/0"

if [ -n "${COMPOSE:-}" ]; then
    read -ra compose <<<"$COMPOSE"
elif command -v docker-compose >/dev/null; then
    compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
else
    scripts/apt-install.sh docker-compose
    compose=(docker-compose)
fi
project="corrigo-check-$(date +%s)-$$"
dc() { "${compose[@]}" --project-name "$project" --file compose.yaml --profile serve --profile ray "$@"; }
work="$(mktemp -d /tmp/corrigo-compose-check.XXXXXX)"
# The serve service's settings: a token made for this check, the check's model and suite.
serve_token="check-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cat >"$work/serve.env" <<EOF
CORRIGO_API_TOKENS=$serve_token
CORRIGO_SERVE_MODELS=script=scripted:/var/lib/corrigo/check/model.yaml
CORRIGO_SERVE_SUITES=check=jsonl:/var/lib/corrigo/check/tasks.jsonl
EOF
export CORRIGO_SERVE_ENV_FILE="$work/serve.env"
# The ray profile's cluster token, made for this check as well.
ray_token="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "RAY_AUTH_TOKEN=$ray_token" >"$work/ray.env"
export CORRIGO_RAY_ENV_FILE="$work/ray.env"

fail() {
    echo "compose-check: FAILED: $*" >&2
    exit 1
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ "$status" -ne 0 ]; then
        echo "--- service logs (last 30 lines each)" >&2
        dc logs --no-color --tail 30 >&2 2>&1 || true
    fi
    if [ -n "${KEEP:-}" ]; then
        echo "KEEP=1: the stack stays up; remove it with:" \
            "${compose[*]} -p $project -f compose.yaml down -v"
    elif ! dc down --volumes --remove-orphans --timeout 10 >"$work/down.log" 2>&1; then
        cat "$work/down.log" >&2
        echo "compose-check: FAILED: could not bring project $project down" >&2
        status=1
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { echo "== [$((SECONDS - started)) s] $*"; }

# in_app CMD...: run a command in the corrigo service, output in $work/out (stdout) and
# $work/err (stderr); returns its exit status.
in_app() {
    dc exec -T -e COLUMNS=200 corrigo "$@" >"$work/out" 2>"$work/err"
}

# expect DESCRIPTION NEEDLE: $work/out holds NEEDLE, else fail showing what it holds.
expect() {
    grep -qF -- "$2" "$work/out" || {
        cat "$work/out" "$work/err" >&2
        fail "$1: output lacks '$2'"
    }
}

# healthy SERVICE: wait (up to three minutes) for the service's container to be healthy.
healthy() {
    local id state=""
    id="$(dc ps -q "$1")"
    [ -n "$id" ] || fail "service $1 has no container"
    for _ in $(seq 1 180); do
        state="$(docker inspect -f '{{.State.Status}}/{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")"
        case "$state" in
            running/healthy) return 0 ;;
            exited/* | dead/*) break ;;
        esac
        sleep 1
    done
    docker inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$id" >&2 || true
    fail "service $1 is not healthy ($state)"
}

# follow_run SERVICE: from the corrigo container, over the compose network, submit a refine
# run to SERVICE's API (a call without a token must be refused), follow its events to a
# verified outcome, and check that the step events are the stored steps. $work/out gets
# "RUN_ID STEP_EVENTS OWNER"; on failure the output is shown and the status is non-zero.
follow_run() {
    dc exec -T -e CHECK_TOKEN="$serve_token" -e CHECK_BASE="http://$1:8765" corrigo python3 -c '
import json, os
import httpx

base = os.environ["CHECK_BASE"]
assert httpx.get(f"{base}/v1/runs", timeout=30).status_code == 401, "no token must be refused"
headers = {"Authorization": "Bearer " + os.environ["CHECK_TOKEN"]}
with httpx.Client(base_url=base, headers=headers, timeout=300) as http:
    sent = http.post("/v1/runs", json={"tasks": "check", "strategy": "refine", "model": "script"})
    assert sent.status_code == 202, sent.text
    [run_id] = sent.json()["run_ids"]
    event, steps, outcome = None, [], None
    with http.stream("GET", f"/v1/runs/{run_id}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: ") and event == "step":
                steps.append(json.loads(line[len("data: "):]))
            elif line.startswith("data: ") and event == "outcome":
                outcome = json.loads(line[len("data: "):])["outcome"]
    assert outcome and outcome["stop_reason"] == "verified" and outcome["hidden_passed"], outcome
    stored = http.get(f"/v1/runs/{run_id}/steps").json()["steps"]
    assert steps == stored, "the events are not the stored steps"
    owner = http.get(f"/v1/runs/{run_id}").json()["owner"]
    print(run_id, len(steps), owner)
' >"$work/out" 2>"$work/err" || { cat "$work/out" "$work/err" >&2; return 1; }
}

up() {
    dc up -d postgres redis corrigo >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; fail "docker-compose up"; }
    for service in postgres redis corrigo; do healthy "$service"; done
}

step "images"
scripts/build-compose-images.sh

step "up (project $project, $("${compose[@]}" version --short 2>/dev/null || echo "${compose[*]}"))"
up
for service in corrigo postgres redis; do
    ports="$(docker port "$(dc ps -q "$service")")"
    [ -z "$ports" ] || fail "service $service publishes host ports: $ports"
done
echo "postgres, redis and corrigo healthy; no host ports published"

# compose.yaml gives the corrigo container what the process sandbox needs to put candidate
# code in a network namespace of its own, away from the stores: check that it took effect.
in_app python3 -c '
import asyncio
from corrigo.sandbox.base import get_sandbox

async def main():
    async with get_sandbox("process") as box:
        print(" ".join(f"{k}={v}" for k, v in sorted(box.isolation.items())))

asyncio.run(main())
' || { cat "$work/err" >&2; fail "starting the process sandbox in the corrigo container"; }
expect "process sandbox isolation" "network=True"
echo "process sandbox in the corrigo container: $(cat "$work/out")"

# The task and the model script, copied into the corrigo container.
cat >"$work/tasks.jsonl" <<'EOF'
{"id": "compose/clamp", "prompt": "def clamp(x: int, lo: int, hi: int) -> int:\n    \"\"\"Return x limited to the range lo..hi.\n    >>> clamp(5, 0, 3)\n    3\n    >>> clamp(-1, 0, 3)\n    0\n    \"\"\"\n", "entry_point": "clamp", "visible_tests": ["assert clamp(5, 0, 3) == 3", "assert clamp(-1, 0, 3) == 0"], "hidden_tests": ["assert clamp(2, 0, 3) == 2", "assert clamp(-7, -5, 5) == -5", "assert clamp(9, -5, 5) == 5"]}
EOF
cat >"$work/model.yaml" <<'EOF'
model: compose-check-script
tasks:
  compose/clamp:
    solver:
      - "```python\ndef clamp(x: int, lo: int, hi: int) -> int:\n    return min(x, hi)\n```"
    reviewer:
      - "The lower bound is never applied: clamp(-1, 0, 3) returns -1. Take max(lo, ...) too."
    refiner:
      - "```python\ndef clamp(x: int, lo: int, hi: int) -> int:\n    return max(lo, min(x, hi))\n```"
EOF
app_id="$(dc ps -q corrigo)"
docker exec "$app_id" mkdir -p /work/check
docker cp "$work/tasks.jsonl" "$app_id:/work/check/tasks.jsonl"
docker cp "$work/model.yaml" "$app_id:/work/check/model.yaml"

declare -A run_ids
for store in postgres redis; do
    url="$pg_url"
    [ "$store" = redis ] && url="$redis_url"
    step "run against $store ($url)"
    if ! in_app corrigo run jsonl:/work/check/tasks.jsonl --strategy refine \
        --model scripted:/work/check/model.yaml --store "$url" --json; then
        cat "$work/out" "$work/err" >&2
        fail "corrigo run against $store"
    fi
    summary="$(python3 - "$work/out" <<'EOF'
import json, sys
[outcome] = json.load(open(sys.argv[1]))
want = {"stop_reason": "verified", "hidden_passed": True, "first_round_passed": False, "rounds": 2}
wrong = {k: outcome.get(k) for k, v in want.items() if outcome.get(k) != v}
if wrong:
    sys.exit(f"unexpected outcome {wrong} (wanted {want})")
print(outcome["run_id"], f"stop {outcome['stop_reason']}, {outcome['rounds']} rounds,",
      "hidden tests passed")
EOF
    )" || { cat "$work/out" >&2; fail "outcome of the run against $store"; }
    run_id="${summary%% *}"
    run_ids[$store]="$run_id"
    echo "run $summary"

    step "read back from $store"
    in_app corrigo runs --store "$url" || { cat "$work/err" >&2; fail "corrigo runs --store $url"; }
    expect "corrigo runs ($store)" "${run_id:0:12}"
    in_app corrigo show last --store "$url" || { cat "$work/err" >&2; fail "corrigo show last ($store)"; }
    expect "corrigo show last ($store)" "run $run_id"
    expect "corrigo show last ($store)" "round 2 · refiner"
    expect "corrigo show last ($store)" "hidden tests (score only): passed"
    expect "corrigo show last ($store)" "stop: verified"
    echo "corrigo runs and corrigo show last read run $run_id back from $store"
done

step "corrigo serve: a run submitted over HTTP from inside the compose network"
# The serve service reads its model and suite from the home volume it shares with corrigo.
docker exec "$app_id" mkdir -p /var/lib/corrigo/check
docker cp "$work/tasks.jsonl" "$app_id:/var/lib/corrigo/check/tasks.jsonl"
docker cp "$work/model.yaml" "$app_id:/var/lib/corrigo/check/model.yaml"
dc up -d serve >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; fail "docker-compose up serve"; }
healthy serve
ports="$(docker port "$(dc ps -q serve)")"
[ -z "$ports" ] || fail "service serve publishes host ports: $ports"
follow_run serve || fail "a run over HTTP through the serve service"
read -r serve_run serve_steps _ <"$work/out"
echo "corrigo serve ran $serve_run over HTTP: $serve_steps step events, then verified"

step "ray profile: a run submitted to serve-ray is executed on the ray-worker node"
# Servers on one store share its queue: the serve service would take the run. Stopped first.
dc rm --stop --force serve >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; fail "removing the serve service"; }
dc up -d serve-ray >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; fail "docker-compose up serve-ray"; }
for service in ray-head ray-worker serve-ray; do healthy "$service"; done
for service in ray-head ray-worker serve-ray; do
    ports="$(docker port "$(dc ps -q "$service")")"
    [ -z "$ports" ] || fail "service $service publishes host ports: $ports"
done
# The cluster takes no caller without its token (Ray's token authentication).
if dc exec -T -e RAY_AUTH_MODE=token -e RAY_AUTH_TOKEN=not-the-cluster-token corrigo \
    ray health-check --address ray-head:6379 >"$work/out" 2>&1; then
    fail "the Ray head answered a caller with a wrong token"
fi
expect "the Ray head refusing a wrong token" "Authentication token is missing or incorrect"
echo "the Ray head refuses a caller without the cluster's token"
worker_host="$(docker inspect -f '{{.Config.Hostname}}' "$(dc ps -q ray-worker)")"
follow_run serve-ray || fail "a run over HTTP through serve-ray"
read -r ray_run ray_steps ray_owner <"$work/out"
# An owner is host/pid/start: the actor that executed the run lives on the worker's node.
[ "${ray_owner%%/*}" = "$worker_host" ] \
    || fail "run $ray_run was executed by $ray_owner, not on the ray-worker node ($worker_host)"
echo "serve-ray ran $ray_run on the ray-worker node ($ray_owner): $ray_steps step events, then verified"

step "down and up again: the runs survive on the named volumes"
dc down --timeout 10 >"$work/down.log" 2>&1 || { cat "$work/down.log" >&2; fail "docker-compose down"; }
up
for store in postgres redis; do
    url="$pg_url"
    [ "$store" = redis ] && url="$redis_url"
    in_app corrigo runs --store "$url" --json || { cat "$work/err" >&2; fail "corrigo runs ($store, after restart)"; }
    expect "corrigo runs --json ($store, after restart)" "\"${run_ids[$store]}\""
    echo "run ${run_ids[$store]} is still in $store"
done

echo "compose-check: OK in $((SECONDS - started)) s (postgres run ${run_ids[postgres]}, redis run ${run_ids[redis]})"
