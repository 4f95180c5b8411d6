#!/usr/bin/env bash
# Shared set-up: a project virtualenv in .venv with the package (editable) and an extra.
# Usage: source scripts/bootstrap.sh EXTRA   (EXTRA: lab or test)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MODELFILES_VENV:-$ROOT/.venv}"
EXTRA="${1:-lab}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
STAMP="$VENV/.modelfiles-$EXTRA.stamp"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ] || \
   { [ -f "$ROOT/labextension/package.json" ] && [ ! -d "$ROOT/jupyter_modelfiles/labextension" ]; }; then
  echo "==> installing jupyter-modelfiles[$EXTRA] (editable)"
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT[$EXTRA]"
  touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
