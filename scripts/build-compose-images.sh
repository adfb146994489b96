#!/usr/bin/env bash
# Build the images compose.yaml runs, without a registry: corrigo-app, corrigo-postgres and
# corrigo-redis, each a Dockerfile under docker/ on top of the Debian root that
# scripts/build-sandbox-image.sh makes (debootstrap, docker import: corrigo-sandbox-base).
#   scripts/build-compose-images.sh              build what is missing or out of date
#   REBUILD=1 scripts/build-compose-images.sh    build all three again
#   BASE=debian:bookworm scripts/build-compose-images.sh    where a registry is reachable
# Each image carries a label, org.corrigo.content-hash, of everything it is built from (its
# Dockerfile, docker/ files, this script, the base image, and for corrigo-app the package
# sources and pyproject.toml); an image whose label matches is kept as it is.
# corrigo-app's wheels are made by `pip wheel` in a container of the image's own Python (the
# Dockerfile's builder stage, tagged corrigo-app-builder), so that environment markers are
# those of the image, with the host's CA bundle mounted read-only (egress to PyPI may pass a
# TLS proxy); the image build then installs them with --no-index, and no image holds the
# certificates. The dependency wheels are kept in build/compose/deps until pyproject.toml
# changes; pip's cache in build/compose/pip-cache.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
base="${BASE:-corrigo-sandbox-base:bookworm}"
extras="postgres,redis,serve,ray"
label=org.corrigo.content-hash
cache="$root/build/compose"
mkdir -p "$cache"
# One build at a time on this machine: the cache and the image tags are shared.
exec 9>"$cache/.lock"
flock 9

if ! docker image inspect "$base" >/dev/null 2>&1; then
    if [ "$base" != "corrigo-sandbox-base:bookworm" ]; then
        echo "base image $base is missing (docker pull it where a registry is reachable)" >&2
        exit 1
    fi
    REBUILD=1 scripts/build-sandbox-image.sh  # debootstraps the base, then the sandbox image
fi
base_id="$(docker image inspect -f '{{.Id}}' "$base")"

# sha256 over the names and contents of files, given relative to the current directory.
content_hash() {
    local f
    for f in "$@"; do
        printf '%s\n' "$f"
        sha256sum <"$f"
    done | sha256sum | cut -c1-32
}

# build IMAGE DOCKERFILE CONTEXT HASH [DOCKER BUILD ARGS...]: docker build, labelled with
# HASH; the image it replaces is removed when nothing else uses it.
build() {
    local image="$1" dockerfile="$2" context="$3" hash="$4" old log started
    shift 4
    old="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
    log="$(mktemp /tmp/corrigo-build.XXXXXX)"
    started=$SECONDS
    if ! docker build --force-rm --build-arg "BASE=$base" --label "$label=$hash" -t "$image" "$@" \
        -f "$dockerfile" "$context" >"$log" 2>&1; then
        echo "building $image failed; the end of its log ($log):" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
    rm -f "$log"
    local new
    new="$(docker image inspect -f '{{.Id}}' "$image")"
    if [ -n "$old" ] && [ "$old" != "$new" ]; then
        docker image rm "$old" >/dev/null 2>&1 || true
    fi
    echo "built $image in $((SECONDS - started)) s"
}

# up_to_date IMAGE HASH: the image exists and was built from exactly this.
up_to_date() {
    [ -z "${REBUILD:-}" ] || return 1
    local have
    have="$(docker image inspect -f "{{index .Config.Labels \"$label\"}}" "$1" 2>/dev/null)" || return 1
    [ "$have" = "$2" ]
}

common=(scripts/build-compose-images.sh docker/apt-sources.sh)

# --- corrigo-postgres and corrigo-redis: Debian's servers, context docker/
for service in postgres redis; do
    image="corrigo-$service:latest"
    files=("${common[@]}" "docker/$service.Dockerfile")
    [ "$service" = postgres ] && files+=(docker/postgres-entrypoint.sh)
    hash="$( { echo "$base_id"; content_hash "${files[@]}"; } | sha256sum | cut -c1-32)"
    if up_to_date "$image" "$hash"; then
        echo "$image is up to date"
    else
        build "$image" "docker/$service.Dockerfile" docker "$hash"
    fi
done

# --- corrigo-app: corrigo from a snapshot of this checkout (hashed as copied, so an edit
# made meanwhile cannot slip in under the label).
image=corrigo-app:latest
work="$(mktemp -d /tmp/corrigo-app-build.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
cp -r corrigo pyproject.toml README.md "$work/src/"
[ -e LICENSE ] && cp LICENSE "$work/src/"
find "$work/src" \( -name __pycache__ -o -name '*.pyc' -o -name '*.egg-info' \) -prune -exec rm -rf {} +
sources=()
while IFS= read -r -d '' f; do sources+=("$f"); done < <(
    cd "$work/src" && find corrigo pyproject.toml -type f -print0 | sort -z)
hash="$(
    {
        echo "$base_id" "$extras"
        content_hash "${common[@]}" docker/app.Dockerfile
        (cd "$work/src" && content_hash "${sources[@]}")
    } | sha256sum | cut -c1-32
)"
if up_to_date "$image" "$hash"; then
    echo "$image is up to date"
    exit 0
fi

started=$SECONDS
mkdir -p "$work/context" "$cache/pip-cache"
cp docker/apt-sources.sh "$work/context/"
# The builder stage: the runtime's Python with an empty venv, to run pip in.
builder=corrigo-app-builder:latest
build "$builder" docker/app.Dockerfile "$work/context" builder --target builder >/dev/null
# pip wheel inside it, so that wheels and environment markers are chosen for the image's
# own Python. Network on; the host's CA bundle is mounted read-only (where egress goes
# through a TLS proxy, as here, pip needs it) and never copied into an image.
run_pip() {
    local ca="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}" args=()
    if [ -f "$ca" ]; then
        args+=(-v "$ca:/etc/corrigo-host-ca.crt:ro" -e PIP_CERT=/etc/corrigo-host-ca.crt)
    fi
    local var
    for var in PIP_INDEX_URL HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
        [ -n "${!var:-}" ] && args+=(-e "$var")
    done
    docker run --rm --user "$(id -u):$(id -g)" -e HOME=/tmp -e PIP_CACHE_DIR=/pip-cache \
        -e PIP_DISABLE_PIP_VERSION_CHECK=1 -e PIP_DEFAULT_TIMEOUT=120 "${args[@]}" \
        -v "$cache/pip-cache:/pip-cache" -v "$work:/work" "$builder" \
        /opt/corrigo/venv/bin/pip wheel --quiet "$@" >"$work/pip.log" 2>&1 \
        || { tail -n 40 "$work/pip.log" >&2; echo "pip wheel $* failed (in $builder)" >&2; exit 1; }
}
# Dependency wheels, kept until pyproject.toml or the builder (its Python) changes.
deps_key="$( { docker image inspect -f '{{.Id}}' "$builder"; echo "$extras"; sha256sum <"$work/src/pyproject.toml"; } | sha256sum | cut -c1-32)"
if [ "$(cat "$cache/deps.key" 2>/dev/null)" != "$deps_key" ] || [ ! -d "$cache/deps" ]; then
    echo "building dependency wheels for corrigo[$extras]"
    rm -rf "$cache/deps" "$cache/deps.key" "$work/deps"
    run_pip --wheel-dir /work/deps "/work/src[$extras]"
    rm -f "$work/deps"/corrigo-*.whl
    mv "$work/deps" "$cache/deps"
    echo "$deps_key" >"$cache/deps.key"
fi
run_pip --no-deps --wheel-dir /work/context/app /work/src
# The build context: hard links where the filesystem allows, so nothing large is copied.
cp -al "$cache/deps" "$work/context/deps" 2>/dev/null || cp -a "$cache/deps" "$work/context/deps"
echo "wheels ready in $((SECONDS - started)) s"
build "$image" docker/app.Dockerfile "$work/context" "$hash" --build-arg "DEPS_KEY=$deps_key"
# The deps stage stays behind as an untagged image: the cache of the next build. Those of
# earlier dependency sets are of no more use.
docker image prune --force --filter label=org.corrigo.image=app-builder \
    --filter "label!=org.corrigo.deps=$deps_key" >/dev/null
