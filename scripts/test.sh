#!/usr/bin/env bash
# Set up (with the test extras) and run the linter and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check rpf app tests benchmarks
# one pytest worker per core; a module's tests stay together (their servers and runs are module fixtures)
.venv/bin/python -m pytest -n auto --maxprocesses 4 --dist loadfile "$@"
