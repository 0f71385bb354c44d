# backupd and backupctl in one small image. Build: docker build -t backupd .
# Stage 1 installs the locked dependencies into a virtualenv; stage 2 copies only
# that virtualenv and runs as a non-root user.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/backupd
COPY requirements.lock pyproject.toml ./
# The lock holds the dev tools too; install only what the package needs at run time.
RUN /opt/backupd/bin/pip install --no-deps $(grep -v -i -E '^(pytest|moto|ruff|mypy|types-|boto3-stubs|botocore-stubs|mypy-boto3|flask|werkzeug|jinja2|markupsafe|itsdangerous|blinker|responses|xmltodict|py-partiql|pluggy|iniconfig|pathspec|mypy_extensions|flask-cors|coverage)' requirements.lock | tr '\n' ' ')
COPY backupd ./backupd
COPY cli ./cli
RUN /opt/backupd/bin/pip install --no-deps .

FROM python:3.11-slim
COPY --from=build /opt/backupd /opt/backupd
RUN useradd --system --uid 65532 --home-dir /var/lib/backupd --create-home backupd
USER 65532:65532
ENV PATH=/opt/backupd/bin:$PATH PYTHONUNBUFFERED=1
WORKDIR /var/lib/backupd
ENTRYPOINT ["backupd"]
