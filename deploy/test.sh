#!/usr/bin/env bash
# The whole test suite, with the static checks CI enforces. CI (.ci/run) runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/setup.sh
. .venv/bin/activate
echo "== ruff check"; ruff check .
echo "== ruff format --check"; ruff format --check .
echo "== mypy --strict"; mypy
echo "== pytest"; python -m pytest -q "$@"
