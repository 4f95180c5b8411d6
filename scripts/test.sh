#!/usr/bin/env bash
# Set up everything on a fresh machine and run the whole test suite: ruff, mypy, eslint,
# prettier, jest, pytest. System packages (Chromium for the browser tests, PostgreSQL for the
# team-mode tests) are installed with apt-get when missing; configurable-http-proxy (JupyterHub's
# proxy) with npm into .test-tools.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# Debian keeps initdb/pg_ctl off PATH, in /usr/lib/postgresql/<version>/bin (tests/postgres.py)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ]; then
    echo "==> apt-get install ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "==> missing system packages: ${need_apt[*]} (run as root or install them)" >&2
    exit 1
  fi
fi

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
echo "==> pytest"
# pytest exits 5 when it collected no test: that is a failure here too (set -e).
exec python -m pytest -p no:cacheprovider "$@"
