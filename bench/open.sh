#!/usr/bin/env bash
# Peak memory for connections that never close: finscope must hold every one of them until
# the end of the capture, so here memory does grow with the capture. Prints, per size, the
# connections held and finscope's peak RSS, and the slope (bytes per open connection).
#
# usage: bench/open.sh [SIZE...]     default: 30M 300M   (needs a release build: bench/run.sh)
# Environment: DATA=/work/bench-data SEED=42 TIMEOUT=600
set -euo pipefail
DATA=${DATA:-/work/bench-data}
SEED=${SEED:-42}
TIMEOUT=${TIMEOUT:-600}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(30M 300M)
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
timeout "$TIMEOUT" cargo build --release --bin finscope --example gencap >&2
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
mkdir -p "$DATA"
echo "| file | MB | connections held to the end | finscope analyze peak RSS MiB | CPU s |"
echo "|---|---|---|---|---|"
prev=""
for size in "${SIZES[@]}"; do
    file=$DATA/open-$size-seed$SEED.pcap
    if [ ! -s "$file" ] || [ ! -s "$file.expected" ]; then
        timeout "$TIMEOUT" "$target/release/examples/gencap" --out "$file" --size "$size" \
            --seed "$SEED" --keep-open > "$file.expected"
    fi
    tf=$(mktemp)
    timeout "$TIMEOUT" /usr/bin/time -f '%e %U %S %M' -o "$tf" \
        "$target/release/finscope" analyze --format json --no-progress "$file" > "$DATA/open.json"
    read -r _wall user sys rss < "$tf"
    rm -f "$tf"
    held=$(jq .totals.still_open "$DATA/open.json")
    want=$(sed -n 's/^expect_still_open=//p' "$file.expected")
    [ "$held" = "$want" ] || { echo "bench: still_open $held, generator says $want" >&2; exit 1; }
    mb=$(stat -c %s "$file" | awk '{printf "%.0f", $1/1e6}')
    cpu=$(echo "$user $sys" | awk '{printf "%.2f", $1+$2}')
    echo "| $(basename "$file") | $mb | $held | $(awk -v k="$rss" 'BEGIN{printf "%.1f", k/1024}') | $cpu |"
    if [ -n "$prev" ]; then
        read -r pheld prss <<< "$prev"
        awk -v a="$pheld" -v b="$held" -v x="$prss" -v y="$rss" \
            'BEGIN{printf "\nslope: %.0f bytes of peak RSS per extra open connection\n", (y-x)*1024/(b-a)}'
    fi
    prev="$held $rss"
done
