#!/usr/bin/env bash
# Set up everything on a fresh machine and run the whole test suite (lint included).
# System packages (Chromium for the browser tests, Node.js and npm) are installed with apt-get
# when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

source "$ROOT/scripts/need_apt.sh"
need_apt chromium=chromium
need_node  # jest and the labextension build

source "$ROOT/scripts/bootstrap.sh" test
cd "$ROOT"
echo "==> ruff"
ruff check jupyter_modelfiles tests benchmarks
ruff format --check jupyter_modelfiles tests benchmarks
echo "==> jest (labextension)"
( cd labextension && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npx jest --ci )
if [ $# -eq 0 ]; then  # whole-suite runs only: it takes a minute or two
  echo "==> wheel (production labextension only)"
  python scripts/check_wheel.py
fi
echo "==> pytest"
# pytest exits 5 when it collected no test: that is a failure here too (set -e).
exec python -m pytest -p no:cacheprovider "$@"
