#!/usr/bin/env bash
# Builds tpfuse and runs every test tier:
#   1. the normal build: quick and full tests;
#   2. ASan + UBSan: quick tests;
#   3. TSan: quick tests.
# Installs what is missing first (Debian packages, when run as root).
# Usage: scripts/test.sh [build-root]   (default: build-tests)
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-build-tests}
jobs=$(nproc 2>/dev/null || echo 2)

missing=()
# OpenBLAS is optional: with it the GEMM benchmark is built (and smoke-tested).
[ -e /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h ] || [ "$(uname -m)" != x86_64 ] ||
  missing+=(libopenblas-dev)
command -v cmake >/dev/null || missing+=(cmake)
command -v gcc >/dev/null || missing+=(gcc)
command -v make >/dev/null || missing+=(make)
command -v pkg-config >/dev/null || missing+=(pkg-config)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing: ${missing[*]}"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  else
    echo "missing: ${missing[*]} (install them, or run as root on Debian)" >&2
    exit 1
  fi
fi

tier() { # name, ctest label regex, extra cmake arguments...
  local name=$1 labels=$2
  shift 2
  echo "== tier $name: configure and build"
  cmake -S . -B "$root/$name" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$root/$name" -j "$jobs" >/dev/null
  echo "== tier $name: tests ($labels)"
  local run=()
  # TSan needs a fixed address-space layout on kernels with wide ASLR.
  if [ "$name" = tsan ] && setarch "$(uname -m)" -R true 2>/dev/null; then
    run=(setarch "$(uname -m)" -R)
  fi
  (cd "$root/$name" && "${run[@]}" ctest -L "$labels" -j "$jobs" --output-on-failure)
}

tier release 'quick|full'
tier asan quick -DTPF_SANITIZE=address
tier tsan quick -DTPF_SANITIZE=thread
echo "== all tiers passed"
