#!/usr/bin/env bash
# Start Redis and PostgreSQL on loopback (installed by scripts/services.sh). Idempotent.
#   redis://127.0.0.1:6379/0
#   postgresql://corrigo:corrigo@127.0.0.1:5432/corrigo
set -euo pipefail
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    # Append-only file with an fsync a second: a killed server keeps what it acknowledged
    # up to the last second; loopback only, no persistence of the default RDB snapshots.
    $sudo mkdir -p /var/lib/corrigo-redis
    $sudo redis-server --bind 127.0.0.1 --port 6379 --protected-mode yes \
        --dir /var/lib/corrigo-redis --appendonly yes --appendfsync everysec --save "" \
        --daemonize yes --logfile /var/log/corrigo-redis.log
    for _ in $(seq 1 50); do
        redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null || { echo "redis did not start; see /var/log/corrigo-redis.log" >&2; exit 1; }
fi

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432; }
if ! pg_ready; then
    version=$(ls /usr/lib/postgresql | sort -n | tail -1)
    if ! pg_lsclusters -h | grep -q "^$version main"; then
        $sudo pg_createcluster "$version" main >/dev/null
    fi
    # Loopback only (Debian's default is localhost; say so explicitly).
    echo "listen_addresses = '127.0.0.1'" | $sudo tee "/etc/postgresql/$version/main/conf.d/corrigo.conf" >/dev/null
    $sudo pg_ctlcluster "$version" main start
    for _ in $(seq 1 50); do pg_ready && break; sleep 0.2; done
    pg_ready || { echo "postgresql did not start; see /var/log/postgresql/" >&2; exit 1; }
fi
psql_admin() { $sudo -u postgres psql -qAtX "$@" 2>/dev/null || su postgres -c "psql -qAtX $(printf '%q ' "$@")"; }
if [ "$(id -u)" -eq 0 ]; then
    psql_admin() { su postgres -s /bin/sh -c "psql -qAtX $(printf '%q ' "$@")"; }
fi
if [ "$(psql_admin -c "select 1 from pg_roles where rolname = 'corrigo'")" != "1" ]; then
    psql_admin -c "create role corrigo login password 'corrigo'"
fi
if [ "$(psql_admin -c "select 1 from pg_database where datname = 'corrigo'")" != "1" ]; then
    psql_admin -c "create database corrigo owner corrigo"
fi
