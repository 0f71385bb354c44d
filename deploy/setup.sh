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

# The image test (tests/integration/test_image.py) builds the Dockerfile for real with
# Debian's buildah FROM a debootstrap'd base (cold: about 5 minutes, then cached under
# ~/.cache/backupd/images). BACKUPD_SKIP_IMAGE_TESTS=1 skips it and this install.
if [ -z "${BACKUPD_SKIP_IMAGE_TESTS:-}" ] && ! { command -v buildah && command -v debootstrap; } >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap >/dev/null
  else
    echo "note: buildah and debootstrap are missing (apt-get install buildah debootstrap); the image test will fail (BACKUPD_SKIP_IMAGE_TESTS=1 opts out)" >&2
  fi
fi
if [ -z "${BACKUPD_SKIP_IMAGE_TESTS:-}" ] && command -v buildah >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1; then
  # The base (Debian's mirror) and the wheels (the Python index) are downloaded here,
  # never by the tests, which build the image offline from this cache.
  .venv/bin/python -c "from backupd.sandbox import images; images.prepare()"
fi

# The drill report test (tests/integration/test_drill_report_screenshot.py) renders the
# HTML report in Debian's headless chromium and screenshots it.
# BACKUPD_SKIP_BROWSER_TESTS=1 skips it and this install.
if [ -z "${BACKUPD_SKIP_BROWSER_TESTS:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  elif command -v apt-get >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n apt-get update -qq && sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: chromium is missing (apt-get install chromium); the drill report screenshot test will fail (BACKUPD_SKIP_BROWSER_TESTS=1 opts out)" >&2
  fi
fi
