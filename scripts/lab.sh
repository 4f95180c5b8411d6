#!/usr/bin/env bash
# Set up everything on a fresh machine and run JupyterLab with jupyter-modelfiles
# (embedded defaults: SQLite state and local storage under the Jupyter data dir).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh" lab
cd "$ROOT/notebooks"
exec jupyter lab "$@"
