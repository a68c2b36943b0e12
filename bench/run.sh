#!/usr/bin/env bash
# Throughput and peak-memory benchmark for finscope on large generated captures (issue 6).
#
# usage: bench/run.sh [SIZE...]            default: 1G
#   e.g. bench/run.sh 1G 4G
#
# For each SIZE it generates (once, deterministic) $DATA/gen-SIZE-MIX-seedSEED.pcap with
# `examples/gencap.rs`, checks that `finscope analyze --format json` reports exactly the
# totals the generator expects, then runs, alternating, RUNS times each:
#   finscope analyze --format json FILE > /dev/null
#   finscope conns FILE > /dev/null          (NDJSON records)
#   cat FILE > /dev/null                     (the floor: reading the file)
# under `/usr/bin/time -f '%e %U %S %M'` (wall s, user s, sys s, max RSS KB).
# On a smaller file (TSHARK_SIZE) it also runs `tshark -r FILE -q -z conv,tcp` TSHARK_RUNS
# times next to finscope and cat.
#
# Prints Markdown tables on standard output (also saved under $DATA). Exit code 1 if any
# correctness check failed, 2 on other errors.
#
# Environment (defaults): DATA=/work/bench-data RUNS=3 SEED=42 MIX=default (or short, see
#   examples/gencap.rs) TSHARK_SIZE=200M TSHARK_RUNS=2 (0 skips tshark)
#   TIMEOUT=1800 (seconds, per command)
set -euo pipefail

DATA=${DATA:-/work/bench-data}
RUNS=${RUNS:-3}
SEED=${SEED:-42}
MIX=${MIX:-default}
TSHARK_SIZE=${TSHARK_SIZE:-200M}
TSHARK_RUNS=${TSHARK_RUNS:-2}
TIMEOUT=${TIMEOUT:-1800}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1G)

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing: apt-get install -y time" >&2; exit 2; }
mkdir -p "$DATA"

echo "bench: building release" >&2
timeout "$TIMEOUT" cargo build --release --bin finscope --example gencap >&2
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
FINSCOPE=$target/release/finscope
GENCAP=$target/release/examples/gencap

stamp=$(date -u +%Y%m%dT%H%M%SZ)
results=$DATA/results-$stamp.tsv
checks=$DATA/checks-$stamp.txt
: > "$results"
: > "$checks"
failed=0

# gen SIZE -> path of the capture (generated once; SIZE.expected holds the generator's counts)
gen() {
    local size=$1 file=$DATA/gen-$1-$MIX-seed$SEED.pcap
    if [ ! -s "$file" ] || [ ! -s "$file.expected" ]; then
        echo "bench: generating $file" >&2
        timeout "$TIMEOUT" "$GENCAP" --out "$file" --size "$size" --seed "$SEED" --mix "$MIX" > "$file.expected.tmp"
        mv "$file.expected.tmp" "$file.expected"
    fi
    echo "$file"
}

# check FILE: finscope's totals must equal the generator's expected counts.
check() {
    local file=$1 json=$DATA/check.json
    timeout "$TIMEOUT" "$FINSCOPE" analyze --format json --no-progress "$file" > "$json"
    if python3 "$here/check.py" "$file.expected" "$json" >> "$checks"; then
        echo "bench: check passed for $file" >&2
    else
        echo "bench: CHECK FAILED for $file (see $checks)" >&2
        failed=1
    fi
}

# measure TOOL FILE: one timed run, appended to $results.
measure() {
    local tool=$1 file=$2 tf
    tf=$(mktemp)
    case $tool in
        analyze) timeout "$TIMEOUT" /usr/bin/time -f '%e %U %S %M' -o "$tf" \
                     "$FINSCOPE" analyze --format json --no-progress "$file" > /dev/null ;;
        conns)   timeout "$TIMEOUT" /usr/bin/time -f '%e %U %S %M' -o "$tf" \
                     "$FINSCOPE" conns --no-progress "$file" > /dev/null ;;
        cat)     timeout "$TIMEOUT" /usr/bin/time -f '%e %U %S %M' -o "$tf" \
                     cat "$file" > /dev/null ;;
        tshark)  timeout "$TIMEOUT" /usr/bin/time -f '%e %U %S %M' -o "$tf" \
                     tshark -r "$file" -q -z conv,tcp > /dev/null 2>&1 ;;
    esac
    printf '%s\t%s\t%s\n' "$tool" "$file" "$(tail -n1 "$tf")" >> "$results"
    echo "bench: $tool $(basename "$file"): $(tail -n1 "$tf")" >&2
    rm -f "$tf"
}

for size in "${SIZES[@]}"; do
    file=$(gen "$size")
    cat "$file" > /dev/null # into the page cache before anything is timed
    check "$file"
    for _ in $(seq "$RUNS"); do
        for tool in analyze conns cat; do measure "$tool" "$file"; done
    done
done

if [ "$TSHARK_RUNS" -gt 0 ] && command -v tshark > /dev/null; then
    file=$(gen "$TSHARK_SIZE")
    cat "$file" > /dev/null
    check "$file"
    for _ in $(seq "$TSHARK_RUNS"); do
        for tool in analyze cat tshark; do measure "$tool" "$file"; done
    done
fi

python3 "$here/table.py" "$results" | tee "$DATA/table-$stamp.md"
echo
echo "Correctness (finscope totals vs generator):"
cat "$checks"
if [ "$failed" -ne 0 ]; then
    echo "bench: CORRECTNESS CHECK FAILED" >&2
    exit 1
fi
