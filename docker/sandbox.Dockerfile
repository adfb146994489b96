# corrigo's sandbox image: Debian with python3 and nothing else.
# Built by scripts/build-sandbox-image.sh on top of a locally made Debian root (no registry
# needed); where a registry is reachable, BASE=python:3.11-slim works the same way.
ARG BASE=corrigo-sandbox-base:bookworm
FROM ${BASE}
RUN rm -rf /var/cache/apt/archives/*.deb /var/lib/apt/lists/* \
 && mkdir -p /opt/corrigo \
 && (getent passwd sandbox >/dev/null || useradd --uid 61999 --no-create-home --shell /usr/sbin/nologin sandbox)
LABEL org.corrigo.sandbox="1"
# The worker file is mounted read-only at run time (it ships with corrigo, not the image).
# It starts as root only to hand each job's candidate processes their own unprivileged uid.
CMD ["python3", "-I", "-B", "/opt/corrigo/worker.py"]
