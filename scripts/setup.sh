#!/usr/bin/env bash
# Sets up mlx-trace from a fresh checkout on Debian: system libraries, npm packages, native build.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
if command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  # liblapack3/libblas3: MLX's CPU build needs them. cmake/g++: the hook layer is C++.
  # chromium: only for the browser tests and the HTML benchmark.
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends liblapack3 libblas3 cmake g++ make chromium >/dev/null
fi
npm ci --no-audit --no-fund
npm run build
