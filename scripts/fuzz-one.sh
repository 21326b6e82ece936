#!/usr/bin/env bash
# One libFuzzer target for a bounded time (make fuzz runs them two at a time).
# Usage: scripts/fuzz-one.sh build/asan/NAME_fuzz SECONDS
set -u
f=$1
seconds=$2
name=$(basename "$f" _fuzz)
mkdir -p "build/asan/corpus-work/$name" build/asan/fuzz-artifacts
log="build/asan/$name.fuzz.log"
if ! "$f" -max_total_time="$seconds" -close_fd_mask=3 -artifact_prefix=build/asan/fuzz-artifacts/ \
    "build/asan/corpus-work/$name" "fuzz/corpus/$name" > "$log" 2>&1; then
  tail -40 "$log"
  echo "fuzz: $name FAILED (log: $log)"
  exit 1
fi
echo "fuzz: $name for ${seconds}s: $(tail -1 "$log")"
