# backupd and backupctl in one small image; `backupd` (the controller) is the entry point.
#   docker build -t backupd:0.1.0 .
#   buildah bud --isolation chroot --build-arg BASE_IMAGE=... -t backupd:0.1.0 .
# Stage 1 builds a virtualenv from the locked versions; stage 2 holds only that
# virtualenv on the same base, runs as a numeric non-root user, and writes nothing
# outside /tmp (no bytecode at run time: it is compiled at install), so it runs with
# a read-only root filesystem (deploy/deployment.yaml mounts an emptyDir at /tmp).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
# Extra pip options, e.g. "--no-index --find-links /src/wheelhouse" to build offline.
ARG PIP_OPTIONS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
RUN python3 -m venv /opt/backupd
COPY . /src
# Only what the package needs at run time (no dev tools), at the locked versions.
# hadolint ignore=SC2086
RUN /opt/backupd/bin/pip install $PIP_OPTIONS --constraint requirements.lock /src \
    && /opt/backupd/bin/pip uninstall --yes pip setuptools \
    && /opt/backupd/bin/backupctl install -o name > /dev/null

FROM ${BASE_IMAGE}
COPY --from=build /opt/backupd /opt/backupd
# A name for the numeric user: libraries ask for it (getpass.getuser() fails without).
RUN echo "backupd:x:65532:65532:backupd:/tmp:/usr/sbin/nologin" >> /etc/passwd \
    && echo "backupd:x:65532:" >> /etc/group
ENV PATH=/opt/backupd/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
WORKDIR /tmp
USER 65532:65532
ENTRYPOINT ["backupd"]
