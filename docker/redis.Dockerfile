# corrigo-redis: Debian's redis-server on the local Debian root, for compose.yaml.
# Built by scripts/build-compose-images.sh. Append-only file in /data (a named volume), an
# fsync a second; no RDB snapshots. No password and protected mode off: the server listens
# only on the compose project's own network, and compose.yaml publishes no port.
ARG BASE=corrigo-sandbox-base:bookworm
FROM ${BASE}
COPY apt-sources.sh /usr/local/lib/corrigo/apt-sources.sh
RUN sh /usr/local/lib/corrigo/apt-sources.sh \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && mkdir -p /data \
 && chown redis:redis /data \
 && chmod 0750 /data
LABEL org.corrigo.image="redis"
USER redis
WORKDIR /data
EXPOSE 6379
CMD ["redis-server", "--bind", "0.0.0.0", "--port", "6379", "--protected-mode", "no", \
     "--dir", "/data", "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
