#!/usr/bin/env bash
# A/B of local mode: the same simulated directory (16 blobs x 60 minutes x 1,000 NSG v2 tuples, on
# tmpfs), `run --once` by two flowlog binaries, alternating. Usage: bash bench/local_ab.sh OLD NEW [RUNS]
set -euo pipefail
a=$1 b=$2 runs=${3:-3}
work=$(mktemp -d -p /dev/shm); trap 'rm -rf "$work"' EXIT
$a simulate --out "$work/logs" --format nsg2 --blobs 16 --minutes 60 --tuples-per-minute 1000 2>/dev/null
for i in $(seq 1 "$runs"); do
  for bin in "$a" "$b"; do
    rm -rf "$work/state" "$work/rows.ndjson"
    start=$(date +%s.%N)
    RUST_LOG=warn "$bin" run --once --listen off --watch "$work/logs" --state "$work/state" --out "$work/rows.ndjson"
    end=$(date +%s.%N)
    printf '%s %.2f s %d rows\n' "$(basename "$bin")" "$(echo "$end - $start" | bc -l)" "$(wc -l < "$work/rows.ndjson")"
  done
done
