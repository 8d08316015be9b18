#!/usr/bin/env bash
# Set up a fresh machine and run every check: ruff (lint + format), mypy, the import layers
# (import-linter), the whole test suite.
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not slow"` for the quick subset
# (`-n 0` runs it in one process).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/bootstrap.sh --test
export PATH="$root/.venv/bin:$PATH"
echo "== ruff"
ruff check backupplan tests bench
ruff format --check backupplan tests bench
echo "== mypy"
mypy
echo "== import layers"
lint-imports --no-cache
echo "== pytest"
pytest -n auto --durations=15 "$@"  # on every core; the slowest tests listed: it must stay well under 10 minutes
