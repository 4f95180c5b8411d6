#!/usr/bin/env bash
# Set up everything on a fresh machine and run the whole test suite: ruff, mypy, eslint,
# prettier, jest, the wheel check, pytest. System packages (Chromium for the browser tests,
# PostgreSQL for the team-mode tests, Node.js and npm) are installed with apt-get when missing;
# configurable-http-proxy (JupyterHub's proxy) with npm into .test-tools.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

source "$ROOT/scripts/need_apt.sh"
need_apt chromium=chromium
# Debian keeps initdb/pg_ctl off PATH, in /usr/lib/postgresql/<version>/bin (tests/postgres.py)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt modelfiles-no-initdb=postgresql
need_node  # jest and the labextension build

source "$ROOT/scripts/bootstrap.sh" test
cd "$ROOT"
if [ ! -x "$ROOT/.test-tools/node_modules/.bin/configurable-http-proxy" ]; then
  echo "==> npm install configurable-http-proxy (into .test-tools, for the JupyterHub tests)"
  npm install --prefix "$ROOT/.test-tools" --no-audit --no-fund --silent configurable-http-proxy
fi
echo "==> ruff"
ruff check jupyter_modelfiles tests benchmarks
ruff format --check jupyter_modelfiles tests benchmarks
echo "==> mypy"
mypy jupyter_modelfiles
echo "==> eslint + prettier + jest (labextension)"
# (npm ci again when package-lock.json changed since node_modules was installed)
( cd labextension \
  && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } \
  && npm run --silent lint:check && npx jest --ci )
if [ $# -eq 0 ]; then  # whole-suite runs only: it takes a minute or two
  echo "==> wheel (production labextension only)"
  python scripts/check_wheel.py
fi
echo "==> pytest"
# pytest exits 5 when it collected no test: that is a failure here too (set -e).
exec python -m pytest -p no:cacheprovider "$@"
