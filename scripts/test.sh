#!/usr/bin/env bash
# Set up (with the test extras) and run the linter and the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check rpf app tests benchmarks
# one pytest worker per core; the browser and notebook tests stay on one worker
# (they wait on runs in other processes: two at once would starve each other)
.venv/bin/python -m pytest -n auto --maxprocesses 4 --dist loadgroup "$@"
