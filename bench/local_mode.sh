#!/usr/bin/env bash
# Local mode end to end: `flowlog run --once` on a simulated directory, to an NDJSON file.
# Prints rows/s, input MB/s and peak RSS. Usage: [BENCH_DIR=/dev/shm] bash bench/local_mode.sh [BLOBS MINUTES TUPLES FORMAT]
# BENCH_DIR picks the file system for the blobs, state and output (default $TMPDIR or /tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
blobs=${1:-16} minutes=${2:-60} tuples=${3:-1000} format=${4:-nsg2}
cargo build --release -q
bin=target/release/flowlog
work=$(mktemp -d -p "${BENCH_DIR:-${TMPDIR:-/tmp}}"); trap 'rm -rf "$work"' EXIT
$bin simulate --out "$work/logs" --format "$format" --blobs "$blobs" --minutes "$minutes" --tuples-per-minute "$tuples" 2>/dev/null
input=$(du -sb "$work/logs" | cut -f1)
rows=$((blobs * minutes * tuples))
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
start=$(date +%s.%N)
RUST_LOG=warn /usr/bin/time -f "%M" -o "$work/rss" $bin run --once --listen off --watch "$work/logs" --state "$work/state" --out "$work/rows.ndjson"
end=$(date +%s.%N)
out_rows=$(wc -l < "$work/rows.ndjson")
[ "$out_rows" -eq "$rows" ] || { echo "expected $rows rows, got $out_rows" >&2; exit 1; }
secs=$(echo "$end - $start" | bc -l)
printf 'local mode: %d blobs x %d minutes x %d tuples (%s), %.1f MB in, %.1f MB out\n' "$blobs" "$minutes" "$tuples" "$format" \
  "$(echo "$input / 1000000" | bc -l)" "$(echo "$(stat -c %s "$work/rows.ndjson") / 1000000" | bc -l)"
printf '%d rows in %.2f s: %.0f rows/s, %.1f MB/s in, peak RSS %.1f MiB\n' "$rows" "$secs" \
  "$(echo "$rows / $secs" | bc -l)" "$(echo "$input / $secs / 1000000" | bc -l)" "$(echo "$(cat "$work/rss") / 1024" | bc -l)"
