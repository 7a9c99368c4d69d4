#!/usr/bin/env bash
# End to end on the local Azure-compatible stack (Azurite + the Event Hubs emulator): one
# `flowlog run` replica, `flowlog simulate --azure` as fast as it goes, until every row is
# acknowledged by the output hub. Prints rows/s, output events and bytes per 1,000 rows, and
# p50/p99 latency from event enqueue to rows acknowledged (from the daemon's histogram), and
# the daemon's peak RSS.
# Usage: bash bench/e2e.sh [BLOBS MINUTES TUPLES] ; GZIP=0 for plain output events (default:
# gzip, set explicitly so an older binary with another default is measured the same way);
# TIMEOUT=seconds to wait for every row (default 300); BENCH_BIN=path/to/flowlog for another
# binary (an older build, for before/after figures), else target/release/flowlog is built here.
# DRAIN=1: publish everything first, then start the daemon and time it draining the backlog
# (packing at full load; its latency figures then count the wait in the hub).
set -euo pipefail
cd "$(dirname "$0")/.."
blobs=${1:-8} minutes=${2:-10} tuples=${3:-500}
[ -n "${BENCH_BIN:-}" ] || cargo build --release -q -p flowlog
cargo build -q -p eventhubs-emulator
export STACK_DIR; STACK_DIR=$(mktemp -d)
# shellcheck source=tests/local-stack.sh
source tests/local-stack.sh
stack_start 2>/dev/null
# The daemon listens on a port of its own (the stack's config names one too).
port=$(azurite_free_port)
gzip=$([ "${GZIP:-1}" = 0 ] && echo false || echo true)
export FLOWLOG_SERVER_LISTEN="127.0.0.1:$port" FLOWLOG_OUTPUT_GZIP="$gzip" RUST_LOG=warn
bin=${BENCH_BIN:-target/release/flowlog}
daemon=
trap '[ -z "$daemon" ] || { kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; }; stack_stop; rm -rf "$STACK_DIR"' EXIT
start_daemon() {
  $bin run --config "$STACK_DIR/flowlog.toml" 2>"$STACK_DIR/daemon.log" &
  daemon=$!
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.1; done
}
simulate() {
  $bin simulate --azure --config "$STACK_DIR/flowlog.toml" --format nsg2 --blobs "$blobs" --minutes "$minutes" \
    --tuples-per-minute "$tuples" --start 2026-04-01T00:00:00Z 2>/dev/null
}
rows=$((blobs * minutes * tuples))
if [ -n "${DRAIN:-}" ]; then
  simulate
  start=$(date +%s.%N)
  start_daemon
else
  start_daemon
  start=$(date +%s.%N)
  simulate
fi
metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
deadline=$((SECONDS + ${TIMEOUT:-300}))
until [ "$(metric flowlog_rows_sent_total)" = "$rows" ]; do
  [ "$SECONDS" -lt "$deadline" ] || { echo "timed out: $(metric flowlog_rows_sent_total) of $rows rows sent; see $STACK_DIR/daemon.log" >&2; exit 1; }
  sleep 0.05
done
end=$(date +%s.%N)
curl -s "http://127.0.0.1:$port/metrics" > "$STACK_DIR/metrics.txt"
curl -s "$EMULATOR_CONTROL/counters" > "$STACK_DIR/counters.json"
peak_kib=$(awk '/^VmHWM/ {print $2}' "/proc/$daemon/status")
python3 - "$rows" "$start" "$end" "$STACK_DIR" "$([ "$gzip" = true ] && echo gzip)" "$peak_kib" "${DRAIN:-}" <<'PY'
import json, sys
rows, start, end, d, mode = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5] or "plain"
out = json.load(open(f"{d}/counters.json"))["hubs"]["flowlog-rows"]["partitions"].values()
events = sum(p["events_received"] for p in out); size = sum(p["bytes_received"] for p in out)
buckets = []
for line in open(f"{d}/metrics.txt"):
    if line.startswith("flowlog_latency_seconds_bucket"):
        le = line.split('le="')[1].split('"')[0]; buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
total = buckets[-1][1]
def q(p):
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= p * total:
            if le == float("inf"): return prev_le
            return prev_le + (le - prev_le) * ((p * total - prev_c) / max(c - prev_c, 1e-9))
        prev_le, prev_c = le, c
secs = end - start
print(f"e2e ({mode}{', drain' if len(sys.argv) > 7 and sys.argv[7] else ''}): {rows} rows in {secs:.2f} s = {rows/secs:.0f} rows/s (simulate + daemon on 2 shared cores)")
print(f"output: {events} events, {size} bytes = {events*1000/rows:.2f} events and {size*1000/rows:.0f} bytes per 1,000 rows")
print(f"latency enqueue -> rows acknowledged: p50 {q(0.5)*1000:.0f} ms, p99 {q(0.99)*1000:.0f} ms over {int(total)} blob reads")
print(f"daemon peak RSS: {int(sys.argv[6]) / 1024:.1f} MiB")
flushes = {}
for line in open(f"{d}/metrics.txt"):
    if line.startswith("flowlog_output_flushes_total{"):
        flushes[line.split('reason="')[1].split('"')[0]] = int(float(line.split()[-1]))
if flushes:
    print("output events closed: " + ", ".join(f"{n} {r}" for r, n in sorted(flushes.items())))
PY
