#!/usr/bin/env bash
# The sandbox conformance suite again, as an unprivileged user (run as root; idempotent).
# As root every backend reaches full isolation; as an ordinary user `process` runs its
# worker inside bubblewrap and `process-unwrapped` has no namespaces, so the README's
# known gaps are exercised. Extra arguments go to pytest.
#   scripts/test-unprivileged.sh                 (scripts/test.sh runs it this way)
#   scripts/test-unprivileged.sh -k unwrapped
# CORRIGO_CI_USER names the user (default corrigo-ci, created as a system user if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
user="${CORRIGO_CI_USER:-corrigo-ci}"
repo="$(pwd -P)"
venv_python="$repo/.venv/bin/python"

fail() {
    echo "test-unprivileged: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || fail "run as root: it switches to the unprivileged user '$user'"
[ -x "$venv_python" ] || fail "no $venv_python: run scripts/install.sh local,dev first"
command -v runuser >/dev/null || fail "runuser (util-linux) is missing"

if ! id -u "$user" >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$user"
fi
[ "$(id -u "$user")" -ne 0 ] || fail "user '$user' is root; it must be an ordinary user"

as_user() {
    runuser -u "$user" -- "$@"
}

# The first folder on the way to $1 that the user cannot enter, or $1 if it is unreadable.
blocked_at() {
    local path="" part
    local IFS=/
    for part in ${1#/}; do
        path="$path/$part"
        if [ -d "$path" ]; then
            as_user test -x "$path" || { echo "$path"; return; }
        fi
    done
    as_user test -r "$1" || echo "$1"
}

for need in tests/test_sandbox.py corrigo/testing/sandbox.py .venv/pyvenv.cfg; do
    blocked="$(blocked_at "$repo/$need")"
    [ -z "$blocked" ] || fail "'$user' cannot read $repo/$need (stopped at $blocked):" \
        "the clone and its .venv must be readable by every user (e.g. chmod o+rX), or" \
        "clone somewhere readable"
done

work="$(mktemp -d /tmp/corrigo-unprivileged.XXXXXX)"
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
mkdir "$work/home"
chown "$user:" "$work/home"

# The venv's interpreter may sit where the user cannot go (pyenv under /root, mode 700).
# Then borrow a reachable interpreter of the same version, in a bare venv that loads the
# project venv's packages, rather than loosen permissions on someone's home folder.
python="$venv_python"
if ! as_user "$python" -c "" 2>/dev/null; then
    base="$(readlink -f "$venv_python")"
    version="$("$venv_python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    site="$("$venv_python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
    python=""
    for candidate in "/usr/bin/python$version" "/usr/local/bin/python$version"; do
        if [ -x "$candidate" ] && as_user "$candidate" -c "" 2>/dev/null; then
            "$candidate" -m venv --without-pip "$work/venv"
            bridge_site="$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
            printf 'import site; site.addsitedir(%s)\n' "'$site'" >"$bridge_site/corrigo-venv.pth"
            python="$work/venv/bin/python"
            echo "test-unprivileged: $base is out of reach of '$user' (stopped at" \
                "$(blocked_at "$base")); using $candidate with the packages of .venv"
            break
        fi
    done
    [ -n "$python" ] || fail "'$user' cannot run .venv's interpreter $base (stopped at" \
        "$(blocked_at "$base")) and no python$version in /usr/bin or /usr/local/bin is" \
        "usable: make the interpreter readable by every user or install python$version"
fi

echo "== pytest (unprivileged: $user)"
as_user env -i HOME="$work/home" PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    "$python" -m pytest -p no:cacheprovider tests/test_sandbox.py "$@"
