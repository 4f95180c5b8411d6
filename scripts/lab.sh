#!/usr/bin/env bash
# Set up everything on a fresh machine and run JupyterLab with jupyter-modelfiles
# (embedded defaults: SQLite state and local storage under the Jupyter data dir).
# Node.js and npm (to build the sidebar) are installed with apt-get when missing and run as root.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/need_apt.sh"
[ -f "$ROOT/jupyter_modelfiles/labextension/package.json" ] || need_node
source "$ROOT/scripts/bootstrap.sh" lab
cd "$ROOT/notebooks"
extra=()
# jupyter refuses to start as root without --allow-root (containers often run as root).
[ "$(id -u)" = "0" ] && extra+=(--allow-root)
exec jupyter lab "${extra[@]}" "$@"
