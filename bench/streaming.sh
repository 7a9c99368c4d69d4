#!/usr/bin/env bash
# Time and memory against record size, and flowlog against the reference flatten step.
#
#   bash bench/streaming.sh            # all cases
#   CASES="sizes ratio" bash bench/streaming.sh
#
# Generates NSG v2 blobs with `flowlog simulate` into $BENCH_DIR (default /tmp/flowlog-bench,
# kept between runs; about 1.6 GB), then prints one line per case:
#   sizes  `flowlog flatten` of records of 4 k, 40 k and 400 k tuples: CPU per tuple, peak RSS
#   big    `flowlog flatten` of one 50 MB record; `flowlog run --once` of a 1 GB blob of 60
#          records of about 17 MB (rows to stdout, discarded): CPU, wall time, peak RSS
#   ws     `flowlog flatten` of two small records separated by 50 MB and by 100 MB of spaces
#   ratio  bench/reference_flatten.py (pandas, installed with pip into $BENCH_DIR/venv) against
#          `flowlog flatten FILE > /dev/null`, CPU seconds, on the 4 k and 40 k files, side by side
# BENCH_BIN picks the binary (default: target/release/flowlog, built here).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BENCH_DIR:-/tmp/flowlog-bench}
cases=${CASES:-sizes big ws ratio}
mkdir -p "$dir"
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
if [ -z "${BENCH_BIN:-}" ]; then
  cargo build --release -q --bin flowlog
  BENCH_BIN=target/release/flowlog
fi
bin=$BENCH_BIN

# name blobs minutes tuples-per-minute: blobs of `minutes` records of `tuples` tuples each.
gen() {
  [ -d "$dir/$1" ] && return
  "$bin" simulate --out "$dir/$1.tmp" --format nsg2 --blobs "$2" --minutes "$3" --tuples-per-minute "$4" >/dev/null 2>&1
  mv "$dir/$1.tmp" "$dir/$1"
}
files() { find "$dir/$1" -name PT1H.json | sort; }

# Runs a command under /usr/bin/time; sets cpu (user+sys s), wall (s), rss (MiB).
measure() {
  /usr/bin/time -f "%U %S %e %M" -o "$dir/time.out" "$@"
  read -r user sys wall kib < "$dir/time.out"
  cpu=$(echo "$user + $sys" | bc -l)
  rss=$(echo "$kib / 1024" | bc -l)
}

flatten() { measure "$bin" flatten "$@" > /dev/null; }

if [[ $cases == *sizes* ]]; then
  gen r4k 10 60 4000
  gen r40k 1 60 40000
  gen r400k 1 2 400000
  echo "| records of | tuples | input MB | CPU s | ns/tuple | peak RSS MiB |"
  echo "|---|---:|---:|---:|---:|---:|"
  for c in "r4k 4000 2400000" "r40k 40000 2400000" "r400k 400000 800000"; do
    set -- $c
    mapfile -t f < <(files "$1")
    flatten "${f[@]}"
    mb=$(du -cb "${f[@]}" | tail -1 | cut -f1)
    printf '| %d tuples | %d | %.0f | %.2f | %.0f | %.1f |\n' "$2" "$3" "$(echo "$mb / 1000000" | bc -l)" "$cpu" \
      "$(echo "$cpu * 1000000000 / $3" | bc -l)" "$rss"
  done
fi

if [[ $cases == *big* ]]; then
  gen r50mb 1 1 880000
  gen g1 1 60 240000
  mapfile -t f < <(files r50mb)
  flatten "${f[@]}"
  printf 'flatten, one %.0f MB record: %.2f s CPU, peak RSS %.1f MiB\n' "$(echo "$(stat -c %s "${f[0]}") / 1000000" | bc -l)" "$cpu" "$rss"
  rm -rf "$dir/state"
  RUST_LOG=warn measure "$bin" run --once --listen off --watch "$dir/g1" --state "$dir/state" --out - > /dev/null
  mapfile -t f < <(files g1)
  printf 'run --once, %.0f MB blob of 60 records: %.1f s CPU, %.1f s wall, peak RSS %.1f MiB\n' \
    "$(echo "$(stat -c %s "${f[0]}") / 1000000" | bc -l)" "$cpu" "$wall" "$rss"
fi

if [[ $cases == *ws* ]]; then
  for mb in 50 100; do
    f="$dir/ws$mb.json"
    [ -f "$f" ] || python3 - "$f" "$mb" <<'PY'
import sys
text = open("samples/nsg_v2.json").read()
record = text[text.index("[") + 1 : text.rindex("]")].strip().split("\n,")[0]
with open(sys.argv[1], "w") as f:
    f.write('{"records":[' + record + " " * (int(sys.argv[2]) * 1000 * 1000) + "," + record + "]}")
PY
    flatten "$f"
    printf 'flatten, two records around %d MB of whitespace: %.2f s CPU, peak RSS %.1f MiB\n' "$mb" "$cpu" "$rss"
  done
fi

if [[ $cases == *ratio* ]]; then
  gen r4k 10 60 4000
  gen r40k 1 60 40000
  if [ ! -x "$dir/venv/bin/python" ] || ! "$dir/venv/bin/python" -c 'import pandas' 2>/dev/null; then
    python3 -m venv "$dir/venv"
    "$dir/venv/bin/pip" install -q pandas
  fi
  echo "| records of | reference CPU s | flowlog CPU s | ratio |"
  echo "|---|---:|---:|---:|"
  for c in r4k r40k; do
    mapfile -t f < <(files "$c")
    read -r tuples ref_cpu _ < <("$dir/venv/bin/python" bench/reference_flatten.py "${f[@]}")
    flatten "${f[@]}"
    printf '| %s tuples | %.2f | %.2f | %.1fx |\n' "${c#r}" "$ref_cpu" "$cpu" "$(echo "$ref_cpu / $cpu" | bc -l)"
  done
fi
