#!/usr/bin/env bash
# Drain benchmark on the local Azure-compatible stack (Azurite + the Event Hubs emulator): the
# daemon's own capacity, not the simulator's pace. A backlog of BlobCreated events is published
# to the input hub first (quiet blobs of a few tuples per minute plus busy ones), then release
# `flowlog run` replicas are started and timed until every row is acknowledged:
#   phase 1: one replica drains backlog 1;
#   phase 2: two replicas drain backlog 2 (owned partitions of each are sampled every second);
#   phase 3: the same two replicas under a paced load below capacity, for latency.
# Prints rows/s, blob-appends/s, output events and bytes per 1,000 rows, storage requests per
# blob-append (flowlog_storage_requests_total, where the binary has it), the daemons' own CPU
# seconds (from /proc/<pid>/stat of the daemon processes only) per 1,000 blob-appends and per
# million rows (from each replica's exec, and again from its log line "flowlog running on Azure":
# start-up excluded), p50/p99 latency of the paced phase, and the ownership timeline.
#
# Usage: bash bench/drain.sh
#   QUIET="BLOBS MINUTES TUPLES"  quiet blobs of the backlog   (default "300 10 20": 3,000 appends)
#   BUSY="BLOBS MINUTES TUPLES"   busy blobs of the backlog    (default "60 2 2000": 120 appends)
#   PACED="BLOBS MINUTES INTERVAL_MS TUPLES"  the paced phase (default "100 5 1000 20"; PACED=0 skips it)
#   REPLICAS="1 2"  the drain phases to run, by replica count (the paced phase uses the last one's)
#   A shape of 0 blobs is left out: QUIET="300 3 20" BUSY=0 drains quiet blobs only.
#   PARTITIONS=8 input hub partitions; GZIP=0 plain output events (default gzip, set explicitly); BENCH_BIN=path/to/flowlog;
#   EVENT_BYTES=N output.max_batch_bytes; MAX_MESSAGE=N the hubs' max message size (Dedicated: 20971520);
#   TIMEOUT=seconds per phase (default 600); KEEP=1 keeps $STACK_DIR (logs, metrics) afterwards.
#   ADDRESSES=repeating|realistic|unique  the busy and paced blobs' remote addresses (`simulate --addresses`);
#   with FLOWLOG_ENRICH_* set (e.g. FLOWLOG_ENRICH_ASN, FLOWLOG_ENRICH_GEO_DB) the daemons enrich.
# A small run (< 2 min): QUIET="100 5 20" BUSY="10 2 2000" PACED="50 3 1000 20" bash bench/drain.sh
set -euo pipefail
cd "$(dirname "$0")/.."
read -r qb qm qt <<<"${QUIET:-300 10 20}"
read -r bb bm bt <<<"${BUSY:-60 2 2000}"
read -r pb pm pi pt <<<"${PACED:-100 5 1000 20}"
qm=${qm:-0} qt=${qt:-0} bm=${bm:-0} bt=${bt:-0} pm=${pm:-0} pi=${pi:-0} pt=${pt:-0}
read -r -a phases <<<"${REPLICAS:-1 2}"
bin=${BENCH_BIN:-target/release/flowlog}
[ -n "${BENCH_BIN:-}" ] || cargo build --release -q -p flowlog
cargo build -q -p eventhubs-emulator
# The stack runs the binary measured here rather than building a debug one of its own.
export STACK_FLOWLOG; STACK_FLOWLOG=$(realpath "$bin")
export STACK_DIR; STACK_DIR=$(mktemp -d)
export STACK_INPUT_PARTITIONS=${PARTITIONS:-8}
[ -z "${MAX_MESSAGE:-}" ] || export STACK_MAX_MESSAGE_SIZE=$MAX_MESSAGE
# shellcheck source=tests/local-stack.sh
source tests/local-stack.sh
stack_start 2>/dev/null
# Warnings, and the one line that says a replica's start-up is over (CPU after start-up).
export RUST_LOG=warn,flowlog::app::daemon::azure=info
export FLOWLOG_OUTPUT_GZIP; FLOWLOG_OUTPUT_GZIP=$([ "${GZIP:-1}" = 0 ] && echo false || echo true)
if [ -n "${EVENT_BYTES:-}" ]; then export FLOWLOG_OUTPUT_MAX_BATCH_BYTES=$EVENT_BYTES; fi
cfg="$STACK_DIR/flowlog.toml"
ports=() pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  stack_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $STACK_DIR" >&2; else rm -rf "$STACK_DIR"; fi
}
trap cleanup EXIT

simulate_failed() { tail -20 "$STACK_DIR/simulate.log" >&2; KEEP=1; exit 1; }
# Publishes one backlog (quiet blobs in hour 00, busy ones in hour 12 of DAY); prints its appends.
publish() {
  local day=$1
  [ "$qb" = 0 ] || "$bin" simulate --azure --config "$cfg" --format nsg2 --blobs "$qb" --minutes "$qm" \
    --tuples-per-minute "$qt" --start "${day}T00:00:00Z" >>"$STACK_DIR/simulate.log" 2>&1 || simulate_failed
  [ "$bb" = 0 ] || "$bin" simulate --azure --config "$cfg" --format nsg2 --blobs "$bb" --minutes "$bm" \
    --tuples-per-minute "$bt" --start "${day}T12:00:00Z" ${ADDRESSES:+--addresses "$ADDRESSES"} \
    >>"$STACK_DIR/simulate.log" 2>&1 || simulate_failed
}
start_replicas() {
  local n=$1 i port
  ports=() pids=()
  for i in $(seq 1 "$n"); do
    port=$(azurite_free_port)
    # As in a container: a developer shell's RUST_BACKTRACE would make every error the SDKs
    # build and drop (an absent optional header, a 404) capture a backtrace.
    env -u RUST_BACKTRACE "$bin" run --config "$cfg" --listen "127.0.0.1:$port" 2>"$STACK_DIR/replica$i.$phase.log" &
    pids+=($!) ports+=("$port")
    ready_ticks "$!" "$STACK_DIR/replica$i.$phase.log" "$STACK_DIR/ready.$phase.$i" &
  done
}
# Records PID's CPU ticks once its log says it runs (polled every 20 ms: at most two ticks late).
ready_ticks() {
  local pid=$1 log=$2 out=$3
  until grep -q "flowlog running on Azure" "$log" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.02
  done
  awk '{print $14 + $15}' "/proc/$pid/stat" >"$out" 2>/dev/null || true
}
# Ticks of the current replicas at their start-up's end; empty unless every replica got there.
ticks_ready() {
  local i t=0
  for i in $(seq 1 "${#pids[@]}"); do
    [ -s "$STACK_DIR/ready.$phase.$i" ] || return 0
    t=$((t + $(cat "$STACK_DIR/ready.$phase.$i")))
  done
  echo "$t"
}
stop_replicas() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=() ports=()
}
# Sum of a metric (every label set) over the running replicas.
metric_sum() {
  local port total=0 v
  for port in "${ports[@]}"; do
    v=$(curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null | awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $NF} END {print s + 0}')
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
peak_rss() { local p m=0 v; for p in "${pids[@]}"; do v=$(awk '/^VmHWM/ {print $2}' "/proc/$p/status"); [ "${v:-0}" -gt "$m" ] && m=$v; done; echo $((m / 1024)); }
cpu_ticks() { local p t=0; for p in "${pids[@]}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
out_counters() { curl -s "$EMULATOR_CONTROL/counters" >"$STACK_DIR/counters.$1.json"; }
snapshot() { local i=1 port; for port in "${ports[@]}"; do curl -s "http://127.0.0.1:$port/metrics" >"$STACK_DIR/metrics.$1.$i.txt"; i=$((i + 1)); done; }
# Waits until the replicas have sent ROWS rows (and process PID, if given, has ended),
# sampling owned partitions once a second.
wait_rows() {
  local rows=$1 t0=$2 pid=${3:-} deadline=$((SECONDS + ${TIMEOUT:-600})) next=0 now line port owned
  while :; do
    if [ "$(metric_sum flowlog_rows_sent_total)" -ge "$rows" ]; then
      [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
    fi
    [ "$SECONDS" -lt "$deadline" ] || { echo "timed out in $phase: $(metric_sum flowlog_rows_sent_total) of $rows rows; logs in $STACK_DIR" >&2; KEEP=1; exit 1; }
    now=$(date +%s.%N)
    if [ "$(echo "$now >= $next" | bc)" = 1 ]; then
      line=$(printf '%.1f' "$(echo "$now - $t0" | bc)")
      for port in "${ports[@]}"; do
        # A replica not listening yet (curl exits 7) is sampled as "-", not the end of the script.
        owned=$(curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null | awk '$1 == "flowlog_owned_partitions" {print $2}') || owned=
        line="$line ${owned:--}"
      done
      echo "$line" >>"$STACK_DIR/owned.$phase.txt"
      next=$(echo "$now + 1" | bc)
    fi
    sleep 0.1
  done
}
clk=$(getconf CLK_TCK)
report() {
  python3 - "$STACK_DIR" "$phase" "$@" <<'PY'
import glob, json, sys
d, phase, replicas, rows, appends, secs, ticks, clk = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
ready = int(sys.argv[9]) if len(sys.argv) > 9 and sys.argv[9] else None
def hub(name):
    parts = json.load(open(f"{d}/counters.{name}.json"))["hubs"]["flowlog-rows"]["partitions"].values()
    return sum(p["events_received"] for p in parts), sum(p["bytes_received"] for p in parts)
(e0, b0), (e1, b1) = hub(phase + ".before"), hub(phase + ".after")
events, size = e1 - e0, b1 - b0
def metrics(tag):
    m = {}
    for f in sorted(glob.glob(f"{d}/metrics.{tag}.*.txt")):
        for line in open(f):
            if line.startswith("#") or not line.strip(): continue
            k, v = line.rsplit(" ", 1)
            m[k] = m.get(k, 0.0) + float(v)
    return m
m = metrics(phase + ".after")
cpu = ticks / clk
print(f"== {phase}: {replicas} replica(s), {rows} rows in {appends} blob-appends")
print(f"drain: {secs:.2f} s = {rows/secs:.0f} rows/s, {appends/secs:.0f} blob-appends/s (from the replicas' start)")
print(f"output: {events} events, {size} bytes = {events*1000/rows:.2f} events and {size*1000/rows:.0f} bytes per 1,000 rows")
inp = json.load(open(f"{d}/counters.{phase}.after.json"))["hubs"].get("flowlog-input", {}).get("partitions", {}).values()
ie, ib = sum(p["events_received"] for p in inp), sum(p["bytes_received"] for p in inp)
if ie: print(f"input hub (every backlog so far): {ie} BlobCreated events, {ib/ie:.0f} bytes each")
flushes = {k.split('"')[1]: v for k, v in m.items() if k.startswith("flowlog_output_flushes_total{")}
if flushes: print("engine events closed by reason: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(flushes.items())))
reads = sum(v for k, v in m.items() if k.startswith("flowlog_blobs_total{") and 'outcome="processed"' in k)
print(f"blob reads (processed): {reads:.0f} = {reads/appends:.2f} per blob-append (events of one blob in one batch are coalesced)")
req = {k: v for k, v in m.items() if k.startswith("flowlog_storage_requests_total{")}
if req:
    total = sum(req.values())
    ops = ", ".join(f"{k.split('{',1)[1].rstrip('}')} {v:.0f}" for k, v in sorted(req.items()) if v)
    print(f"storage requests: {total:.0f} = {total/appends:.2f} per blob-append ({ops})")
    resp = {k: v for k, v in m.items() if k.startswith("flowlog_storage_responses_total{") and v}
    if resp: print("storage responses: " + ", ".join(f"{k.split('{',1)[1].rstrip('}')} {v:.0f}" for k, v in sorted(resp.items())))
    cache = {k: v for k, v in m.items() if k.startswith("flowlog_offset_cache_total{")}
    if cache: print("offset cache: " + ", ".join(f"{k.split('{',1)[1].rstrip('}')} {v:.0f}" for k, v in sorted(cache.items())))
else:
    print("storage requests: n/a (this binary has no flowlog_storage_requests_total)")
print(f"daemon CPU: {cpu:.2f} s = {cpu*1000/appends:.3f} s per 1,000 blob-appends, {cpu*1e6/rows:.1f} s per million rows")
if ready is not None:
    start, run = ready / clk, (ticks - ready) / clk
    print(f"daemon CPU after start-up: {run:.2f} s = {run*1000/appends:.3f} s per 1,000 blob-appends (start-up, exec to \"flowlog running on Azure\": {start:.2f} s)")
PY
}
paced_report() {
  python3 - "$STACK_DIR" "$@" <<'PY'
import glob, sys
d, appends, rows, ticks, clk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def metrics(tag):
    m = {}
    for f in glob.glob(f"{d}/metrics.{tag}.*.txt"):
        for line in open(f):
            if line.startswith("#") or not line.strip(): continue
            k, v = line.rsplit(" ", 1)
            m[k] = m.get(k, 0.0) + float(v)
    return m
a, b = metrics("paced.before"), metrics("paced.after")
delta = {k: v - a.get(k, 0.0) for k, v in b.items()}
buckets = sorted((float("inf") if k.split('le="')[1].split('"')[0] == "+Inf" else float(k.split('le="')[1].split('"')[0]), v)
                 for k, v in delta.items() if k.startswith("flowlog_latency_seconds_bucket"))
total = buckets[-1][1]
def q(p):
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= p * total:
            if le == float("inf"): return prev_le
            return prev_le + (le - prev_le) * ((p * total - prev_c) / max(c - prev_c, 1e-9))
        prev_le, prev_c = le, c
print(f"latency enqueue -> rows acknowledged and offset committed: p50 {q(0.5)*1000:.0f} ms, p99 {q(0.99)*1000:.0f} ms over {int(total)} blob reads")
reads = sum(v for k, v in delta.items() if k.startswith("flowlog_blobs_total{") and 'outcome="processed"' in k)
print(f"blob reads (processed): {reads:.0f} = {reads/appends:.2f} per blob-append")
req = {k: v for k, v in delta.items() if k.startswith("flowlog_storage_requests_total{") and v}
per_append = {k: v for k, v in req.items() if 'operation="checkpoint"' not in k}
if req:
    ops = ", ".join(f"{k.split('{',1)[1].rstrip('}')} {v:.0f}" for k, v in sorted(req.items()))
    print(f"storage requests per blob-append (checkpoint store excluded): {sum(per_append.values())/appends:.2f}; all: {ops}")
    per = lambda op: sum(v for k, v in req.items() if f'operation="{op}"' in k) / appends
    print(f"per blob-append: read_range {per('read_range'):.2f}, properties {per('properties'):.2f}, "
          f"get_offset {per('get_offset'):.2f}, put_offset {per('put_offset'):.2f}, insert_offset {per('insert_offset'):.2f}")
    cache = {k: v for k, v in delta.items() if k.startswith("flowlog_offset_cache_total{")}
    if cache: print("offset cache: " + ", ".join(f"{k.split('{',1)[1].rstrip('}')} {v:.0f}" for k, v in sorted(cache.items())))
else:
    print("storage requests: n/a (this binary has no flowlog_storage_requests_total)")
cpu = ticks / clk
print(f"daemon CPU: {cpu:.2f} s = {cpu*1000/appends:.3f} s per 1,000 blob-appends, {cpu*1e6/rows:.1f} s per million rows")
PY
}
balance() {
  python3 - "$STACK_DIR/owned.$phase.txt" "${PARTITIONS:-8}" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
n = int(sys.argv[2])
changes = [r for i, r in enumerate(rows) if i == 0 or r[1:] != rows[i - 1][1:]]
print(f"owned partitions per replica (r1 r2), sampled once a second for {rows[-1][0]} s, at each change: "
      + "  ".join(f"{r[0]}s: {' '.join(r[1:])}" for r in changes))
settled = next((i for i, r in enumerate(rows) if all(x.isdigit() for x in r[1:]) and sum(map(int, r[1:])) == n and all(abs(int(x) - n / (len(r) - 1)) <= 1 for x in r[1:])), None)
if settled is None:
    print("balance: never settled at n/replicas ± 1")
else:
    after = rows[settled:]
    changes = sum(1 for a, b in zip(after, after[1:]) if a[1:] != b[1:])
    bad = sum(1 for r in after if not all(x.isdigit() and abs(int(x) - n / (len(r) - 1)) <= 1 for x in r[1:]))
    print(f"balance: settled at {rows[settled][0]} s ({' '.join(rows[settled][1:])}); afterwards {changes} change(s), {bad} sample(s) outside ± 1")
PY
}

tag=$([ "$FLOWLOG_OUTPUT_GZIP" = true ] && echo gzip || echo plain)
echo "drain bench ($tag): quiet $qb blobs x $qm min x $qt tuples, busy $bb x $bm x $bt, $STACK_INPUT_PARTITIONS input partitions" >&2
day=1
for i in "${!phases[@]}"; do
  replicas=${phases[$i]}
  phase="drain$replicas"
  # A repeated replica count (REPLICAS="1 1 1") gets phases of its own.
  [ ! -e "$STACK_DIR/counters.$phase.before.json" ] || phase="drain$replicas.$day"
  rows=$((qb * qm * qt + bb * bm * bt)) appends=$((qb * qm + bb * bm))
  pub0=$SECONDS
  publish "2026-04-0$day"
  echo "$phase: backlog published in $((SECONDS - pub0)) s" >&2
  day=$((day + 1))
  out_counters "$phase.before"
  t0=$(date +%s.%N)
  start_replicas "$replicas"
  wait_rows "$rows" "$t0"
  t1=$(date +%s.%N)
  ticks=$(cpu_ticks)
  snapshot "$phase.after"
  out_counters "$phase.after"
  report "$replicas" "$rows" "$appends" "$(echo "$t1 - $t0" | bc)" "$ticks" "$clk" "$(ticks_ready)"
  echo "daemon peak RSS (VmHWM, largest replica): $(peak_rss) MiB"
  [ "$i" = $((${#phases[@]} - 1)) ] || stop_replicas
done
[ "$pb" != 0 ] || exit 0
last=$phase
# The paced load appends to the first PACED blobs of backlog 2 (same seed, same hour, the
# minutes after it): blobs these replicas already know, as in steady operation.
[ "$pb" -le "$qb" ] && [ $((qm + pm)) -le 60 ] || { echo "PACED blobs must be <= QUIET blobs and minutes fit the hour" >&2; exit 1; }
phase=paced
snapshot "paced.before"
sent0=$(metric_sum flowlog_rows_sent_total) ticks0=$(cpu_ticks)
"$bin" simulate --azure --config "$cfg" --format nsg2 --blobs "$pb" --minutes "$pm" --tuples-per-minute "$pt" \
  --interval-ms "$pi" ${ADDRESSES:+--addresses "$ADDRESSES"} --start "$(printf '2026-04-0%dT00:%02d:00Z' $((day - 1)) "$qm")" >>"$STACK_DIR/simulate.log" 2>&1 &
sim=$!
wait_rows $((sent0 + pb * pm * pt)) "$t0" "$sim"
wait "$sim" || simulate_failed
ticks=$(( $(cpu_ticks) - ticks0 ))
snapshot "paced.after"
echo "== paced: $pb blobs x $pm min x $pt tuples, one minute every $pi ms, 2 replicas"
paced_report $((pb * pm)) $((pb * pm * pt)) "$ticks" "$clk"
cat "$STACK_DIR/owned.$last.txt" "$STACK_DIR/owned.paced.txt" >"$STACK_DIR/owned.both.txt"
phase=both
balance
