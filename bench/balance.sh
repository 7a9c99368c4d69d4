#!/usr/bin/env bash
# Time to full, balanced partition ownership: `tests/azure_e2e_rules.rs` run RUNS times (default
# 5), one scenario at a time, each starting 2 or 3 `flowlog run` replicas over 8 or 32 input
# partitions with every Event Hubs emulator rule on, then killing one (SIGKILL). Each scenario
# prints a `BALANCE|...` line; this prints per shape the median and range of
#   initial:  all replicas ready -> the checkpoint store and the replicas' engines agree on an
#             even split over all replicas;
#   takeover: the kill -> the same over the survivors (waits out the ownership expiry);
#   and the kill -> every row in the output hub.
# The daemons run with the stack's load-balancing settings (tests/common/azure_stack.rs):
# update_interval_ms = 300, partition_expiration_ms = 2000, strategy = "greedy".
# Usage: bash bench/balance.sh ; RUNS=N for another number of runs.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
# shellcheck source=tests/tools/azurite.sh
source tests/tools/azurite.sh
azurite_start >/dev/null
trap azurite_stop EXIT
cargo test -q -p flowlog --test azure_e2e_rules --no-run 2>/dev/null
out=$(mktemp)
for i in $(seq 1 "$runs"); do
  echo "run $i of $runs" >&2
  # A failed scenario prints no line (its run is short of one) and its output is kept.
  cargo test -q -p flowlog --test azure_e2e_rules -- --test-threads 1 --nocapture >"$out.run" 2>&1 ||
    { echo "run $i: a scenario failed, see $out.run.$i" >&2; cp "$out.run" "$out.run.$i"; }
  grep '^BALANCE|' "$out.run" >>"$out" || true
done
python3 - "$out" <<'PY'
import statistics, sys
shapes = {}
for line in open(sys.argv[1]):
    f = dict(kv.split("=", 1) for kv in line.strip().split("|")[1:])
    key = (int(f["partitions"]), int(f["replicas"]))
    shapes.setdefault(key, []).append(
        (int(f["initial_ms"]), int(f["takeover_ms"]), int(f["delivered_ms"]), f["interval_ms"], f["expiration_ms"],
         int(f.get("refusals", 0)))
    )
print("| partitions | replicas | runs | initial balance, median (range) | takeover after SIGKILL, median (range) | SIGKILL to every row | links refused by a rule |")
print("|---:|---:|---:|---|---|---|---:|")
for (p, r), rows in sorted(shapes.items()):
    def fmt(xs):
        return f"{statistics.median(xs) / 1000:.2f} s ({min(xs) / 1000:.2f}-{max(xs) / 1000:.2f})"
    cells = " | ".join(fmt([x[i] for x in rows]) for i in range(3))
    print(f"| {p} | {r} | {len(rows)} | {cells} | {sum(x[5] for x in rows)} |")
interval, expiration = rows[0][3], rows[0][4]
print(f"\nupdate_interval_ms = {interval}, partition_expiration_ms = {expiration}")
PY
rm -f "$out" "$out.run"
