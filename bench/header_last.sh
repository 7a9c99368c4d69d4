#!/usr/bin/env bash
# Peak RSS of one large record, header fields first (as Azure writes them) or last (as `jq -S`
# and other tools that sort keys write them), through `flowlog flatten` (a file, read twice
# where needed) and `flowlog run --once` in local mode (rows to /dev/null).
#
#   bash bench/header_last.sh                 # a 200 MiB record
#   MIB=16 bash bench/header_last.sh
#   BENCH_BIN=/path/to/older/flowlog bash bench/header_last.sh   # before/after figures
#
# One NSG v2 record of about $MIB MiB in one rule and one MAC entry, in a blob of its own under
# $BENCH_DIR (default /tmp/flowlog-header-last, kept between runs); the header-last one holds the
# same bytes in sorted key order (`properties` with `Version` first, the tuples, then `mac` and
# `rule` after them, then `resourceId` and `time`). Runs as the image does
# (MALLOC_MMAP_THRESHOLD_=1048576, deploy/Dockerfile), so the peak is what flowlog holds.
# Needs /usr/bin/time and python3. Also `flatten -` (standard input: cannot be read twice, so a
# header-last record keeps its tuples) with STDIN=1.
set -euo pipefail
cd "$(dirname "$0")/.."
mib=${MIB:-200}
dir=${BENCH_DIR:-/tmp/flowlog-header-last}
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
if [ -z "${BENCH_BIN:-}" ]; then
  cargo build --release -q --bin flowlog
  BENCH_BIN=target/release/flowlog
fi
bin=$(realpath "$BENCH_BIN")

for shape in first last; do
  f="$dir/$shape-$mib/logs/r/PT1H.json"
  [ -f "$f" ] && continue
  mkdir -p "$(dirname "$f")"
  python3 - "$f" "$mib" "$shape" <<'PY'
import sys
path, mib, shape = sys.argv[1], int(sys.argv[2]), sys.argv[3]
head = ('"category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/'
        'PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/N","time":"2018-11-13T12:00:35.3899262Z"')
n = (mib << 20) // 72
with open(path, "w") as out:
    if shape == "first":
        out.write('{"records":[{' + head + ',"properties":{"Version":2,"flows":[{"rule":"R","flows":'
                  '[{"mac":"000D3AF8801A","flowTuples":[')
    else:
        out.write('{"records":[{"properties":{"Version":2,"flows":[{"flows":[{"flowTuples":[')
    step = 100_000
    for base in range(0, n, step):
        out.write(",".join(
            f'"{1542110400 + i},10.0.{(i >> 8) % 250}.{i % 250},192.0.2.{i % 250},{1000 + i % 60000},443,T,I,A,C,{i % 100},{i % 9000},{i % 70},{i % 8000}"'
            for i in range(base, min(n, base + step))))
        if base + step < n:
            out.write(",")
    if shape == "first":
        out.write(']}]}]}}]}')
    else:
        out.write('],"mac":"000D3AF8801A"}],"rule":"R"}]},' + head + '}]}')
PY
done

# peak NAME CMD...: the peak RSS in MiB of CMD, stdout to /dev/null.
peak() {
  local name=$1
  shift
  local t
  t=$(mktemp)
  MALLOC_MMAP_THRESHOLD_=1048576 RUST_LOG=warn /usr/bin/time -v "$@" >/dev/null 2>"$t" || {
    tail -5 "$t" >&2
    exit 1
  }
  printf '%-34s %6d MiB peak RSS, %6.1f s\n' "$name" \
    "$(awk '/Maximum resident/ {print int($6 / 1024)}' "$t")" \
    "$(awk -F': ' '/Elapsed/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$t")"
  rm -f "$t"
}

echo "$("$bin" --version 2>/dev/null || echo flowlog), one record of $mib MiB"
for shape in first last; do
  d="$dir/$shape-$mib"
  peak "flatten, header $shape" "$bin" flatten "$d/logs/r/PT1H.json"
  if [ -n "${STDIN:-}" ]; then
    peak "flatten - (stdin), header $shape" sh -c "'$bin' flatten - < '$d/logs/r/PT1H.json'"
  fi
  rm -rf "$d/state"
  peak "run --once, header $shape" env -u FLOWLOG_LOCAL_OUT "$bin" run --once --listen off \
    --watch "$d/logs" --state "$d/state"
done
