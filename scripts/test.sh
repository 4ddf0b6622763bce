#!/usr/bin/env bash
# Builds tpfuse and runs every test tier:
#   1. the normal build with Open MPI: quick and full tests, then the MPI
#      tests under mpirun (shared-memory path and TCP, 2-4 ranks);
#   2. the MPI transport built with MPICH: the MPI tests;
#   3. ASan + UBSan: quick tests, and the MPI tests (Open MPI);
#   4. TSan: quick tests;
#   5. Python: the package installed into a fresh venv (Debian's python3,
#      system site packages: torch, numpy, mpi4py), then its pytest suite.
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
# Open MPI (the default MPI) and MPICH: the MPI transport is tested with both.
command -v mpicc.openmpi >/dev/null && command -v mpiexec.openmpi >/dev/null || missing+=(libopenmpi-dev openmpi-bin)
command -v mpicc.mpich >/dev/null && command -v mpiexec.mpich >/dev/null || missing+=(libmpich-dev mpich)
command -v cmake >/dev/null || missing+=(cmake)
command -v gcc >/dev/null || missing+=(gcc)
command -v make >/dev/null || missing+=(make)
command -v pkg-config >/dev/null || missing+=(pkg-config)
# The Python package: Debian's interpreter and packages (there is no PyPI here).
/usr/bin/python3 -c 'import torch, numpy, pytest, mpi4py, setuptools, wheel, ensurepip' 2>/dev/null ||
  missing+=(python3 python3-venv python3-torch python3-numpy python3-pytest python3-mpi4py python3-setuptools python3-wheel)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing: ${missing[*]}"
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  else
    echo "missing: ${missing[*]} (install them, or run as root on Debian)" >&2
    exit 1
  fi
fi

openmpi=(-DMPI_C_COMPILER=mpicc.openmpi "-DMPIEXEC_EXECUTABLE=$(command -v mpiexec.openmpi)")
mpich=(-DMPI_C_COMPILER=mpicc.mpich "-DMPIEXEC_EXECUTABLE=$(command -v mpiexec.mpich)")

tier() { # name, ctest label regex (empty: none), MPI tests (yes|no), extra cmake arguments...
  local name=$1 labels=$2 mpi=$3
  shift 3
  echo "== tier $name: configure and build"
  cmake -S . -B "$root/$name" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  local targets=()
  [ -n "$labels" ] || targets=(--target mpi_test tpfuse_cli ops_family) # only the MPI tests run
  cmake --build "$root/$name" -j "$jobs" "${targets[@]}" >/dev/null
  local run=()
  # TSan needs a fixed address-space layout on kernels with wide ASLR.
  if [ "$name" = tsan ] && setarch "$(uname -m)" -R true 2>/dev/null; then
    run=(setarch "$(uname -m)" -R)
  fi
  if [ -n "$labels" ]; then
    echo "== tier $name: tests ($labels)"
    (cd "$root/$name" && "${run[@]}" ctest -L "$labels" -j "$jobs" --output-on-failure)
  fi
  if [ "$mpi" = yes ]; then
    # one job at a time: each already starts up to 4 processes on this machine
    # (MPI libraries keep memory until exit by design: no leak report there)
    echo "== tier $name: MPI tests"
    (cd "$root/$name" && ASAN_OPTIONS=detect_leaks=0 ctest -L mpi --output-on-failure)
  fi
}

python_tier() {
  local venv
  venv=$(realpath -m "$root/venv")
  echo "== tier python: install the package into a fresh venv"
  rm -rf "$venv"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q --no-build-isolation --no-index .
  echo "== tier python: tests"
  (cd tests/python && "$venv/bin/python" -m pytest -q -p no:cacheprovider .)
}

tier release 'quick|full' yes "${openmpi[@]}"
python_tier
tier mpich '' yes "${mpich[@]}"
tier asan quick yes -DTPF_SANITIZE=address "${openmpi[@]}"
tier tsan quick no -DTPF_SANITIZE=thread -DTPF_MPI=OFF
echo "== all tiers passed"
