#!/usr/bin/env bash
# Installs the Debian packages ultramem.c needs, or says how to.
# Called by `make` when pkg-config cannot find one of them, and by .ci/run.
set -euo pipefail
PKGS="build-essential pkg-config libsdl2-dev check libstb-dev fortunes"
if [ "$(id -u)" = 0 ]; then SUDO=""
elif sudo -n true 2>/dev/null; then SUDO="sudo -n"
else
  echo "error: missing build dependencies (SDL2, Check, stb or fortunes)." >&2
  echo "  hint: run as root:  apt-get update && apt-get install -y $PKGS" >&2
  exit 1
fi
echo "deps: installing $PKGS"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $PKGS >/dev/null
