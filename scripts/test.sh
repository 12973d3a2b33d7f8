#!/usr/bin/env bash
# Set up (with the test extras) and run the linter and the test suite; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check rpf app tests benchmarks
failed=0
run() {  # pytest; "no tests selected" (exit 5) is not a failure: the arguments may pick one part only
    local status=0
    .venv/bin/python -m pytest "$@" || status=$?
    if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then failed=$status; fi
}
# 1. all but the browser tests, on one pytest worker per core (at most 4)
run -n auto --maxprocesses 4 -m "not remote_data and not browser" "$@"
# 2. the browser and notebook tests, one at a time: they wait on what a page shows, and a busy machine starves them
run -m "not remote_data and browser" "$@"
exit "$failed"
