#!/bin/sh
# corrigo-postgres's entry point: make the cluster on first start, then run the server.
#   POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB   role, its password, its database
#                                                     (default: corrigo / corrigo / corrigo)
# The cluster lives in $PGDATA (a named volume in compose.yaml). The superuser is
# "postgres", reachable only through the container's Unix socket (peer authentication);
# over TCP every role needs its password (scram-sha-256). Extra arguments go to postgres.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=corrigo}"
: "${POSTGRES_PASSWORD:=corrigo}"
: "${POSTGRES_DB:=corrigo}"
marker="$PGDATA/corrigo-initialised"

if [ ! -e "$marker" ]; then
    if [ -e "$PGDATA/PG_VERSION" ]; then
        echo "corrigo-postgres: $PGDATA holds a cluster whose first start did not finish;" \
            "remove the volume (docker-compose down -v) and start again" >&2
        exit 1
    fi
    echo "corrigo-postgres: making a new cluster in $PGDATA"
    initdb --pgdata="$PGDATA" --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=peer --auth-host=scram-sha-256 >/dev/null
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    # A server on the Unix socket only, to create the role and the database.
    pg_ctl --pgdata="$PGDATA" --wait --silent -o "-c listen_addresses=''" start >/dev/null
    psql --quiet --no-psqlrc --username=postgres --dbname=postgres -v ON_ERROR_STOP=1 \
        -v user="$POSTGRES_USER" -v password="$POSTGRES_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"user";
SQL
    pg_ctl --pgdata="$PGDATA" --wait --silent --mode=fast stop
    touch "$marker"
    echo "corrigo-postgres: role $POSTGRES_USER and database $POSTGRES_DB are ready"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
