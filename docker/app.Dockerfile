# corrigo-app: corrigo with its postgres, redis, serve and ray extras, in a venv on the local
# Debian root.
# Built by scripts/build-compose-images.sh in two steps:
#  1. `--target builder` gives an empty venv with Debian's pip; the script runs `pip wheel`
#     in it (network on, the host's CA bundle mounted read-only, never copied into an image)
#     so that wheels are chosen for exactly this Python, markers included;
#  2. the full build installs those wheels with --no-index from its context:
#       deps/            every dependency's wheel (a layer rebuilt only when they change)
#       app/             the corrigo wheel, from a snapshot of the checkout
#       apt-sources.sh   (from docker/) adds Debian's security updates
ARG BASE=corrigo-sandbox-base:bookworm

FROM ${BASE} AS runtime
COPY apt-sources.sh /usr/local/lib/corrigo/apt-sources.sh
RUN sh /usr/local/lib/corrigo/apt-sources.sh \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

FROM runtime AS builder
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && python3 -m venv /opt/corrigo/venv
LABEL org.corrigo.image="app-builder"

FROM builder AS deps
# Names the dependency set, so that the build script can remove the cached stages of
# earlier sets (which stay behind as untagged images).
ARG DEPS_KEY=unknown
LABEL org.corrigo.deps="${DEPS_KEY}"
COPY deps/ /tmp/deps/
RUN /opt/corrigo/venv/bin/pip install --quiet --no-index --no-deps --no-cache-dir /tmp/deps/*.whl

FROM runtime
COPY --from=deps /opt/corrigo/venv /opt/corrigo/venv
COPY app/ /tmp/app/
RUN /opt/corrigo/venv/bin/pip install --quiet --no-index --no-deps --no-cache-dir /tmp/app/*.whl \
 && /opt/corrigo/venv/bin/pip check \
 && rm -rf /tmp/app \
 && mkdir -p /var/lib/corrigo /work
ENV PATH=/opt/corrigo/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CORRIGO_HOME=/var/lib/corrigo \
    CORRIGO_SANDBOX=process \
    PYTHONUNBUFFERED=1
WORKDIR /work
LABEL org.corrigo.image="app"
# corrigo runs as root in its container: the process sandbox needs root to give each job's
# candidate processes their own unprivileged uid (see compose.yaml).
CMD ["corrigo", "--help"]
