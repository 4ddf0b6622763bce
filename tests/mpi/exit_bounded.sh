#!/bin/sh
# Usage: exit_bounded.sh SECONDS COMMAND...
# Runs an MPI job in which one rank leaves mid-job (test_mpi exit) and
# passes when the job ends within SECONDS: the surviving ranks either got an
# error from their call or were stopped by the launcher; a hang (or a call
# that succeeded without the peer) fails.
limit=$1
shift
start=$(date +%s)
out=$(timeout $((limit * 2)) "$@" 2>&1)
rc=$?
took=$(( $(date +%s) - start ))
printf '%s\nrc=%s took=%ss\n' "$out" "$rc" "$took"
[ "$rc" -eq 124 ] && { echo "FAIL: the job hung"; exit 1; }
[ "$rc" -eq 126 ] || [ "$rc" -eq 127 ] && { echo "FAIL: could not start the job"; exit 1; }
[ "$took" -ge "$limit" ] && { echo "FAIL: took ${took}s (limit ${limit}s)"; exit 1; }
case "$out" in *"departed peer succeeded"*) echo "FAIL: a call succeeded without its peer"; exit 1 ;; esac
echo "PASS: ended in ${took}s"
