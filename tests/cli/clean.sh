#!/usr/bin/env bash
# tpfuse clean: removes tpfuse's files that no process maps or holds open,
# and nothing else: not a file a process holds, not another name, not a
# live communicator's segments (a shared-memory run going on meanwhile).
# Usage: clean.sh TPFUSE
set -u
tpfuse=$1
dir=$(mktemp -d /tmp/tpf-clean-XXXXXX)
chmod 700 "$dir"
fail() { echo "FAIL: $*"; ls -la "$dir"; exit 1; }
hex=0123456789abcdef0123456789abcdef
orphan=$dir/tpf-$hex-0-1-00000000deadbeef
control=$dir/tpf-fedcba9876543210fedcba9876543210
held=$dir/tpf-$hex-1-1-0000000000c0ffee
other=$dir/tpf-not-ours
for f in "$orphan" "$control" "$held" "$other"; do : > "$f"; chmod 600 "$f"; done
exec 3< "$held" # this shell holds it open
"$tpfuse" clean --dir "$dir" --dry-run | grep -q "would remove 2 files" || fail "dry run"
[ -e "$orphan" ] || fail "--dry-run removed a file"
"$tpfuse" clean --dir "$dir" > /dev/null || fail "clean failed"
[ ! -e "$orphan" ] && [ ! -e "$control" ] || fail "an orphan is left"
[ -e "$held" ] || fail "removed a file a process holds open"
[ -e "$other" ] || fail "removed a file that is not tpfuse's"
exec 3<&-
# a live communicator's segments stay while it runs: a verified run
# beside repeated cleaning still ends well
TPF_SHM_DIR=$dir "$tpfuse" bench-rs --transport shm --world-size 2 --bytes 64K,4M --reps 20 > "$dir.log" 2>&1 &
run=$!
seen=0
while kill -0 "$run" 2> /dev/null; do
  seen=$((seen + $(ls "$dir" | grep -c "^tpf-[0-9a-f]\{32\}")))
  "$tpfuse" clean --dir "$dir" > /dev/null || fail "clean during a run"
done
wait "$run" || { cat "$dir.log"; fail "the run beside tpfuse clean failed"; }
rm -f "$dir.log"
[ "$(ls "$dir" | grep -c "^tpf-[0-9a-f]\{32\}")" -eq 0 ] || fail "the run left files"
echo "tpfuse clean: orphans removed, held and foreign files kept; a run beside it passed ($seen of its files seen)"
rm -rf "$dir"
echo PASS
