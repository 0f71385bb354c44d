#!/usr/bin/env bash
# Sets up a development machine from scratch: a virtualenv with the locked Python
# dependencies, backupd installed in it, and the Go-built binaries (control plane,
# MinIO, fake-gcs-server) in the cache (~/.cache/backupd). Safe to run again: a warm
# machine does almost nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null 2>&1; then
  echo "error: the Go toolchain is not on PATH; it is needed to build the local control plane" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
lock_hash=$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ "$(cat .venv/.lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
  echo "$lock_hash" > .venv/.lock-hash
fi
.venv/bin/backupctl sandbox build
