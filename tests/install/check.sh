#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then builds a program
# against it twice: with pkg-config, and with CMake's find_package.
# Usage: check.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build" --prefix "$scratch/prefix" >/dev/null
libdir=$(ls -d "$scratch"/prefix/lib*/pkgconfig | head -1)
export PKG_CONFIG_PATH=$libdir
cc "$src/consumer.c" $(pkg-config --cflags --libs tpfuse) -Wl,-rpath,"$(dirname "$libdir")" -o "$scratch/by-pkg-config"
"$scratch/by-pkg-config"
cmake -S "$src" -B "$scratch/consumer" -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
cmake --build "$scratch/consumer" >/dev/null
"$scratch/consumer/consumer"
# The MPI flavour, where it was built: pkg-config tpfuse-mpi, and
# find_package's tpfuse::tpfuse_mpi.
if [ -e "$libdir/tpfuse-mpi.pc" ]; then
  cc "$src/consumer_mpi.c" $(pkg-config --cflags --libs tpfuse-mpi) -Wl,-rpath,"$(dirname "$libdir")" \
    -o "$scratch/mpi-by-pkg-config"
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$scratch/mpi-by-pkg-config"
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$scratch/consumer/consumer_mpi"
fi
