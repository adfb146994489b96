# corrigo-postgres: Debian's PostgreSQL on the local Debian root, for compose.yaml.
# Built by scripts/build-compose-images.sh. The cluster is made on first start, in the
# (empty) volume at $PGDATA, by postgres-entrypoint.sh: role and database from
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB (all "corrigo" unless set).
ARG BASE=corrigo-sandbox-base:bookworm
FROM ${BASE}
COPY apt-sources.sh /usr/local/lib/corrigo/apt-sources.sh
RUN sh /usr/local/lib/corrigo/apt-sources.sh \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && pg_lsclusters -h | while read -r version name _; do pg_dropcluster --stop "$version" "$name"; done \
 && ln -s "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)" /usr/local/lib/postgresql-bin \
 && mkdir -p /var/lib/postgresql/data /run/postgresql \
 && chown postgres:postgres /var/lib/postgresql/data /run/postgresql \
 && chmod 0700 /var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/corrigo-postgres
ENV PATH=/usr/local/lib/postgresql-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
LABEL org.corrigo.image="postgres"
USER postgres
EXPOSE 5432
# SIGINT is PostgreSQL's fast shutdown: clients are disconnected, nothing is lost.
STOPSIGNAL SIGINT
ENTRYPOINT ["corrigo-postgres"]
