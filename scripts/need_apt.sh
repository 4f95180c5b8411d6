#!/usr/bin/env bash
# Sourced by scripts/lab.sh and scripts/test.sh.
#   need_apt COMMAND=PACKAGE[,PACKAGE...] ...  install the Debian packages of missing commands
#   need_node                                  Node.js (18 or newer) and npm, for the labextension
# As root the packages are installed with apt-get; otherwise the script stops and names them.

need_apt() {
  local wanted=() pair pkgs
  for pair in "$@"; do
    if ! command -v "${pair%%=*}" >/dev/null 2>&1; then
      IFS=, read -r -a pkgs <<<"${pair#*=}"
      wanted+=("${pkgs[@]}")
    fi
  done
  [ ${#wanted[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = "0" ]; then
    echo "==> apt-get install ${wanted[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${wanted[@]}" >/dev/null
  else
    echo "==> missing system packages: ${wanted[*]}" >&2
    echo "    run this script as root once, or: sudo apt-get install ${wanted[*]}" >&2
    exit 1
  fi
}

need_node() {
  need_apt node=nodejs npm=npm
  if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'; then
    echo "==> Node.js $(node --version) is too old to build the labextension (18 or newer)" >&2
    exit 1
  fi
}
