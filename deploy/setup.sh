#!/usr/bin/env bash
# Sets up a development machine from scratch: a virtualenv with the locked Python
# dependencies, backupd installed in it, and the Go-built binaries (control plane,
# MinIO, fake-gcs-server) in the cache (~/.cache/backupd). Safe to run again: a warm
# machine does almost nothing.
#
# On a cold machine the Go builds take most of the time and most of the CPU, while the
# Debian side (installing buildah, debootstrap and chromium, downloading the image base)
# mostly waits on the network. So the Debian side runs in the background beside the Go
# builds, logs to ~/.cache/backupd/logs/setup-debian.log, and is waited for at the end:
# its failure fails the setup.
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
# Bytecode for the sources, as a regular (not editable) install has: with
# PYTHONDONTWRITEBYTECODE set, as on this machine, every backupctl start would otherwise
# compile the modules it imports again (about 0.1 s more per command). Only stale files
# are compiled, so a warm run costs almost nothing.
.venv/bin/python -m compileall -q backupd cli >/dev/null

# Debian packages the suite needs, as root or through passwordless sudo:
# - buildah and debootstrap: the image test (tests/integration/test_image.py) builds the
#   Dockerfile for real FROM a debootstrap'd base. BACKUPD_SKIP_IMAGE_TESTS=1 opts out.
# - chromium: the drill report test (tests/integration/test_drill_report_screenshot.py)
#   renders the HTML report headless and screenshots it. BACKUPD_SKIP_BROWSER_TESTS=1 opts out.
debian_packages() {
  local wanted=()
  if [ -z "${BACKUPD_SKIP_IMAGE_TESTS:-}" ]; then
    command -v buildah >/dev/null 2>&1 || wanted+=(buildah)
    command -v debootstrap >/dev/null 2>&1 || wanted+=(debootstrap)
  fi
  if [ -z "${BACKUPD_SKIP_BROWSER_TESTS:-}" ]; then
    command -v chromium >/dev/null 2>&1 || wanted+=(chromium)
  fi
  [ "${#wanted[@]}" -gt 0 ] || return 0
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "note: ${wanted[*]} missing and not root (apt-get install ${wanted[*]}); the image and drill report tests will fail (BACKUPD_SKIP_IMAGE_TESTS=1 / BACKUPD_SKIP_BROWSER_TESTS=1 opt out)"
      return 0
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "note: no apt-get to install ${wanted[*]}; the image and drill report tests will fail"
    return 0
  fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${wanted[@]}" >/dev/null
}

# The image base (Debian's mirror) and the wheels (the Python index) are downloaded
# here, never by the tests, which build the image offline from this cache (cold: about
# 5 minutes, then cached under ~/.cache/backupd/images).
debian_side() {
  debian_packages
  if [ -z "${BACKUPD_SKIP_IMAGE_TESTS:-}" ] && command -v buildah >/dev/null 2>&1 \
      && command -v debootstrap >/dev/null 2>&1; then
    .venv/bin/python -c "from backupd.sandbox import images; images.prepare()"
  fi
}

logs="${BACKUPD_CACHE:-$HOME/.cache/backupd}/logs"
mkdir -p "$logs"
debian_log="$logs/setup-debian.log"
debian_side >"$debian_log" 2>&1 &
debian_pid=$!

# A failed Go build still waits for the Debian side: an apt-get cut short would leave
# dpkg's lock and a half-installed package behind.
go_status=0
.venv/bin/backupctl sandbox build || go_status=$?
debian_status=0
wait "$debian_pid" || debian_status=$?
grep '^note:' "$debian_log" >&2 || true
if [ "$debian_status" != 0 ]; then
  echo "error: installing the Debian packages or preparing the image base failed (exit $debian_status); the end of $debian_log:" >&2
  tail -n 20 "$debian_log" >&2
fi
if [ "$go_status" != 0 ] || [ "$debian_status" != 0 ]; then
  exit 1
fi
