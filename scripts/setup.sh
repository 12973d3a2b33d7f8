#!/usr/bin/env bash
# Set up RPF on a fresh machine: system packages (Debian/Ubuntu) and a virtual
# environment in .venv with the package installed (editable) and its extras.
# Usage: bash scripts/setup.sh [--test]      (--check-browser: only say where chromium is)
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium drives the dashboard's browser tests (Playwright, no browser download)
# and takes the documentation's screenshots.
browser_line="apt-get install -y chromium"
if [[ "${1:-}" == "--check-browser" ]]; then
  if command -v chromium >/dev/null; then command -v chromium; exit 0; fi
  echo "rpf setup: chromium is missing; run:  sudo ${browser_line}" >&2
  exit 1
fi

extras="app"
[[ "${1:-}" == "--test" ]] && extras="app,test"

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "rpf setup: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

# Debian packages: astrometry.net with the Tycho-2 index files (offline plate
# solving and the offline reference catalogue), SExtractor/PSFEx/SCAMP.
apt_pkgs=(astrometry.net astrometry-data-tycho2 source-extractor psfex scamp)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "rpf setup: installing Debian packages: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "rpf setup: these system packages are missing: ${missing[*]}" >&2
    echo "  run:  sudo apt-get install ${missing[*]}" >&2
    echo "  (RPF works without them, but cannot plate-solve offline.)" >&2
  fi
fi

if ! command -v chromium >/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "rpf setup: installing chromium (the dashboard's browser tests)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive ${browser_line} -qq >/dev/null
  else
    echo "rpf setup: chromium is missing (the dashboard works in any browser; its tests need chromium)" >&2
    echo "  run:  sudo ${browser_line}" >&2
  fi
fi

if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[${extras}]" 2>&1 | grep -v -E "^(WARNING: Location|  )" || true
# an editable install is not byte-compiled by pip, and where PYTHONDONTWRITEBYTECODE is set no
# process ever writes the cache: every run would compile rpf's sources again (~0.5 s at each start)
.venv/bin/python -m compileall -q rpf app >/dev/null
.venv/bin/python -c "import rpf; print('rpf', rpf.__version__, 'ready in .venv')"
