#!/usr/bin/env bash
# Throughput and peak-memory benchmark for finscope against the floor and other tools (issue 6).
#
# usage: bench/run.sh [SIZE...]                 default: 1G (generated captures)
#        FILE=/work/bench-data/real-nginx-wrk.pcap bench/run.sh      (an existing capture)
#
# Generated captures: for each SIZE it generates (once, deterministic)
# $DATA/gen-SIZE-MIX-seedSEED.pcap with `examples/gencap` and checks that
# `finscope analyze --format json` reports exactly the totals the generator expects.
# An existing FILE is not checked (unless FILE.expected exists, as gencap writes it).
#
# Then, on each file, in rounds (one run of every tool per round, RUNS rounds):
#   analyze   finscope analyze --format json --direct-io=off FILE > /dev/null
#   conns     finscope conns --direct-io=off FILE > /dev/null   (NDJSON records)
#   floor     examples/pcapfloor FILE                   (pcap-parser iterating records)
#   fins      examples/pcapfloor --fins FILE            (the same, plus FINs per 4-tuple:
#             about the least work a tool that says who closed each connection can do)
#   cat       cat FILE > /dev/null                      (reading the file)
# and the same with direct I/O (past the page cache; Linux; a file system without it, such as
# tmpfs before Linux 6.6, makes finscope warn and read through the cache, and pcapfloor
# --direct fail):
#   direct       finscope analyze --format json --direct-io FILE > /dev/null
# and, if TOOLS names it (not by default), finscope as a user runs it:
#   auto         finscope analyze --format json FILE > /dev/null   (default threads, and
#                --direct-io=auto: direct I/O when the file is mostly out of the page cache)
#   floordirect  examples/pcapfloor --direct FILE       (records parsed in O_DIRECT blocks)
#   finsdirect   examples/pcapfloor --fins --direct FILE
# and, if TOOLS names them (not by default), the lean design (examples/pcapfloor/lean.rs: the
# four answers with 48 bytes a connection, in the table; its counts are compared with
# finscope's):
#   lean         examples/pcapfloor --lean FILE
#   leandirect   examples/pcapfloor --lean --direct FILE
#   leanboxed    examples/pcapfloor --lean --boxed FILE   (the same facts in an 864-byte box)
#   leansplit    examples/pcapfloor --lean --split FILE   (the facts in the slot, the rest of
#                such a box beside them, read when the connection goes)
#   leanearly    examples/pcapfloor --lean --split --early FILE  (that box read and freed when
#                the close completes)
#   leanheads    examples/pcapfloor --lean --heads FILE   (and each HTTP head parsed)
#   leanheadsdirect  examples/pcapfloor --lean --heads --direct FILE
# and the slow tools (SLOW_TOOLS) SLOW_RUNS times, alternating with analyze, floor, fins and
# cat:
#   tshark    tshark -r FILE -q -z conv,tcp
#   tcptrace  tcptrace -n -l FILE
# on FILE itself, or for generated captures on a smaller one (SLOW_SIZE), since tshark and
# tcptrace are 30-100x slower and their memory grows with the capture (issue 6: tcptrace
# 14.6 GB, tshark 7.5 GB on 1.8 GB).
# Every command runs under `/usr/bin/time -f '%e %U %S %M'` (wall s, user s, sys s, max RSS
# KB) and `timeout`. With THREADS="1 2", analyze, conns and direct run once per thread count
# with `--threads N` (and the analyze outputs must be identical, direct's to analyze's);
# without it, no `--threads` is passed.
#
# Prints Markdown tables on standard output (also saved under $DATA): min / median / max wall
# and CPU (user + sys) times, MB/s by wall time and per core by CPU time, cores used, packets
# per second, peak RSS; then CPU-time ratios (finscope / floor, tshark / finscope, ...).
# Exit code 1 if a correctness check failed, 2 on other errors.
#
# Environment (defaults): DATA=/work/bench-data RUNS=3 SEED=42 MIX=default (or short)
#   LINK=ethernet (gencap --link: sll, sll2, raw, null, mix) FILE= (an existing capture
#   instead of SIZEs) THREADS= (e.g. "1 2") TOOLS="analyze conns direct floor fins
#   floordirect finsdirect cat"
#   SLOW_TOOLS="tshark tcptrace" SLOW_SIZE=200M SLOW_RUNS=2 (0 skips them; TSHARK_SIZE and
#   TSHARK_RUNS are the old names) TIMEOUT=1800 (seconds, per command) FINSCOPE= (another
#   finscope binary to measure instead of this checkout's release build)
#   DOC= (a Markdown file, e.g. docs/performance.md: the tables and checks are written into it
#   between `<!-- bench:KEY -->` and `<!-- /bench:KEY -->`, replacing the last run's; see
#   bench/doc.py) DOC_KEY= (default: FILE's name without .pcap, or gen-SIZES-MIX)
#   COLD= (1: drop the page cache before every timed run, as root, so that every tool reads
#   the file from the disk: a capture that is not in the page cache)
set -euo pipefail

DATA=${DATA:-/work/bench-data}
RUNS=${RUNS:-3}
SEED=${SEED:-42}
MIX=${MIX:-default}
LINK=${LINK:-ethernet}
FILE=${FILE:-}
THREADS=${THREADS:-}
DEFAULT_TOOLS="analyze conns direct floor fins floordirect finsdirect cat"
TOOLS=${TOOLS:-$DEFAULT_TOOLS}
SLOW_TOOLS=${SLOW_TOOLS:-tshark tcptrace}
SLOW_SIZE=${SLOW_SIZE:-${TSHARK_SIZE:-200M}}
SLOW_RUNS=${SLOW_RUNS:-${TSHARK_RUNS:-2}}
TIMEOUT=${TIMEOUT:-1800}
DOC=${DOC:-}
DOC_KEY=${DOC_KEY:-}
COLD=${COLD:-}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1G)

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing: apt-get install -y time" >&2; exit 2; }
if [ -n "$FILE" ] && [ ! -r "$FILE" ]; then
    echo "bench: FILE=$FILE is not readable" >&2
    exit 2
fi
mkdir -p "$DATA"
if [ -n "$COLD" ] && [ ! -w /proc/sys/vm/drop_caches ]; then
    echo "bench: COLD=1 needs to write /proc/sys/vm/drop_caches (run as root)" >&2
    exit 2
fi

slow=()
if [ "$SLOW_RUNS" -gt 0 ]; then
    for tool in $SLOW_TOOLS; do
        if command -v "$tool" > /dev/null; then
            slow+=("$tool")
        else
            echo "bench: $tool is not installed (apt-get install -y $tool); skipped" >&2
        fi
    done
fi

echo "bench: building release" >&2
timeout "$TIMEOUT" cargo build --release --bin finscope --example gencap --example pcapfloor >&2
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
FINSCOPE=${FINSCOPE:-$target/release/finscope}
GENCAP=$target/release/examples/gencap
FLOOR=$target/release/examples/pcapfloor

# What the run measures, for bench/doc.py.
load_before=$(cut -d" " -f1-3 /proc/loadavg | sed "s/ /, /g")
started=$(date -u "+%Y-%m-%d %H:%M UTC")
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# Changed Markdown (this run's own tables, written into the document) does not change what runs.
[ -z "$(git status --porcelain --untracked-files=no -- . ':!*.md' 2>/dev/null)" ] || commit="$commit + uncommitted changes"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results=$DATA/results-$stamp.tsv
packets=$DATA/packets-$stamp.tsv
checks=$DATA/checks-$stamp.txt
errors=$DATA/stderr-$stamp.log
: > "$results"
: > "$packets"
: > "$checks"
: > "$errors"
failed=0

# The finscope variants: "analyze", "conns" and "direct", or "analyze-tN", ... per thread count.
variants() { # variants analyze|conns|direct
    local n
    if [ -z "$THREADS" ]; then
        echo "$1"
    else
        for n in $THREADS; do echo "$1-t$n"; done
    fi
}

# gen SIZE -> path of the capture (generated once; FILE.expected holds the generator's counts)
gen() {
    local size=$1 file=$DATA/gen-$1-$MIX-seed$SEED
    [ "$LINK" = ethernet ] || file=$file-$LINK
    if [ "$LINK" = mix ]; then file=$file.pcapng; else file=$file.pcap; fi
    if [ ! -s "$file" ] || [ ! -s "$file.expected" ]; then
        echo "bench: generating $file" >&2
        timeout "$TIMEOUT" "$GENCAP" --out "$file" --size "$size" --seed "$SEED" --mix "$MIX" \
            --link "$LINK" > "$file.expected.tmp"
        mv "$file.expected.tmp" "$file.expected"
    fi
    echo "$file"
}

# threads_flag VARIANT: "--threads N" for VARIANT-tN, nothing otherwise.
threads_flag() {
    case $1 in
        *-t*) echo "--threads ${1##*-t}" ;;
    esac
}

# io_flag VARIANT: "--direct-io" for the direct variants, nothing for auto, "--direct-io=off" for
# the others (the default, auto, reads a file out of the page cache with direct I/O; these runs
# measure each way).
io_flag() {
    case $1 in
        direct*) echo "--direct-io" ;;
        auto) ;;
        *) echo "--direct-io=off" ;;
    esac
}

# TOOLS has the direct variants; auto.
has_direct=false
case " $TOOLS " in *" direct "*) has_direct=true ;; esac
has_auto=false
case " $TOOLS " in *" auto "*) has_auto=true ;; esac
has_lean=false
case " $TOOLS " in *" lean"*) has_lean=true ;; esac

# prepare FILE: page cache, packet count (from the floor), correctness checks; once per file.
declare -A prepared=()
prepare() {
    local file=$1 json=$DATA/check.json first="" v
    [ -z "${prepared[$file]:-}" ] || return 0
    prepared[$file]=1
    cat "$file" > /dev/null # into the page cache before anything is timed
    printf '%s\t%s\n' "$file" "$("$FLOOR" "$file" | sed -n 's/^packets=//p')" >> "$packets"
    local checked
    checked=$(variants analyze)
    if $has_direct; then checked="$checked $(variants direct)"; fi
    if $has_auto; then checked="$checked auto"; fi
    for v in $checked; do
        # shellcheck disable=SC2046 # the flags are words or none
        timeout "$TIMEOUT" "$FINSCOPE" analyze --format json --no-progress $(io_flag "$v") \
            $(threads_flag "$v") "$file" > "$DATA/check-$v.json" 2>> "$errors"
        if [ -z "$first" ]; then
            first=$v
            cp "$DATA/check-$v.json" "$json"
        elif cmp -s "$DATA/check-$first.json" "$DATA/check-$v.json"; then
            echo "$file: ok   $v output identical to $first" >> "$checks"
        else
            echo "$file: FAIL $v output differs from $first" >> "$checks"
            echo "bench: CHECK FAILED: $v output differs from $first on $file" >&2
            failed=1
        fi
    done
    if $has_lean; then
        "$FLOOR" --lean --heads "$file" > "$DATA/check-lean.txt"
        python3 "$here/lean_check.py" "$DATA/check-lean.txt" "$json" >> "$checks"
    fi
    if [ ! -s "$file.expected" ]; then
        echo "$file: no generator counts; totals not checked" >> "$checks"
        return
    fi
    if python3 "$here/check.py" "$file.expected" "$json" >> "$checks"; then
        echo "bench: check passed for $file" >&2
    else
        echo "bench: CHECK FAILED for $file (see $checks)" >&2
        failed=1
    fi
}

# tcptrace 6.6.7 reads legacy pcap only, and not LINKTYPE_LINUX_SLL2 (276): it says so and
# exits 0 having read nothing, which must not be timed.
tcptrace_reads() { # tcptrace_reads FILE
    local magic linktype
    magic=$(od -An -tx4 -N4 "$1" | tr -d ' ')
    linktype=$(od -An -tu4 -j20 -N4 "$1" | tr -d ' ')
    case $magic in
        a1b2c3d4 | a1b23c4d) [ "$linktype" != 276 ] ;;
        *) return 1 ;;
    esac
}

# measure TOOL FILE: one timed run, appended to $results. Standard error goes to $errors.
# A tool that exits non-zero (tshark does on a capture cut mid-record) is still timed, with
# a note; one that runs out of TIMEOUT is not.
measure() {
    local tool=$1 file=$2 tf flag rc=0
    if [ "$tool" = tcptrace ] && ! tcptrace_reads "$file"; then
        echo "bench: tcptrace cannot read $(basename "$file") (pcapng or SLL2); skipped" >&2
        return
    fi
    tf=$(mktemp)
    local timed=(timeout "$TIMEOUT" /usr/bin/time -f '%e %U %S %M' -o "$tf")
    flag="$(io_flag "$tool") $(threads_flag "$tool")"
    echo "== $tool $file" >> "$errors"
    if [ -n "$COLD" ]; then
        sync
        echo 3 > /proc/sys/vm/drop_caches
    fi
    # shellcheck disable=SC2086 # $flag is words or none
    case $tool in
        analyze* | direct* | auto) "${timed[@]}" "$FINSCOPE" analyze --format json --no-progress $flag "$file" ;;
        floordirect) "${timed[@]}" "$FLOOR" --direct "$file" ;;
        finsdirect)  "${timed[@]}" "$FLOOR" --fins --direct "$file" ;;
        lean)        "${timed[@]}" "$FLOOR" --lean "$file" ;;
        leandirect)  "${timed[@]}" "$FLOOR" --lean --direct "$file" ;;
        leanboxed)   "${timed[@]}" "$FLOOR" --lean --boxed "$file" ;;
        leansplit)   "${timed[@]}" "$FLOOR" --lean --split "$file" ;;
        leanearly)   "${timed[@]}" "$FLOOR" --lean --split --early "$file" ;;
        leanheads)   "${timed[@]}" "$FLOOR" --lean --heads "$file" ;;
        leanheadsdirect) "${timed[@]}" "$FLOOR" --lean --heads --direct "$file" ;;
        conns*)   "${timed[@]}" "$FINSCOPE" conns --no-progress $flag "$file" ;;
        floor)    "${timed[@]}" "$FLOOR" "$file" ;;
        fins)     "${timed[@]}" "$FLOOR" --fins "$file" ;;
        cat)      "${timed[@]}" cat "$file" ;;
        tshark)   "${timed[@]}" tshark -r "$file" -q -z conv,tcp ;;
        tcptrace) "${timed[@]}" tcptrace -n -l "$file" ;;
        *) echo "bench: unknown tool $tool" >&2; exit 2 ;;
    esac > /dev/null 2>> "$errors" || rc=$?
    if [ "$rc" -eq 124 ]; then
        echo "bench: $tool $(basename "$file"): timed out after $TIMEOUT s; not counted" >&2
    else
        [ "$rc" -eq 0 ] || echo "bench: $tool $(basename "$file"): exit code $rc (see $errors)" >&2
        printf '%s\t%s\t%s\n' "$tool" "$file" "$(tail -n1 "$tf")" >> "$results"
        echo "bench: $tool $(basename "$file"): $(tail -n1 "$tf")" >&2
    fi
    rm -f "$tf"
}

# The tools of one round on the big files.
round=()
for tool in $TOOLS; do
    case $tool in
        analyze | conns | direct) mapfile -t -O "${#round[@]}" round < <(variants "$tool") ;;
        *) round+=("$tool") ;;
    esac
done
# A slow round: the slow tools next to the first analyze variant, the floor, fins and cat (and
# the first direct variant and the direct floors, when TOOLS has direct; auto, when it has
# auto).
slow_round=("$(variants analyze | head -n1)" floor fins cat)
if $has_direct; then slow_round+=("$(variants direct | head -n1)" floordirect finsdirect); fi
if $has_auto; then slow_round+=(auto); fi
slow_round+=("${slow[@]+"${slow[@]}"}")

if [ -n "$FILE" ]; then
    prepare "$FILE"
    for _ in $(seq "$RUNS"); do
        for tool in "${round[@]}"; do measure "$tool" "$FILE"; done
    done
    if [ ${#slow[@]} -gt 0 ]; then
        for _ in $(seq "$SLOW_RUNS"); do
            for tool in "${slow_round[@]}"; do measure "$tool" "$FILE"; done
        done
    fi
else
    for size in "${SIZES[@]}"; do
        file=$(gen "$size")
        prepare "$file"
        for _ in $(seq "$RUNS"); do
            for tool in "${round[@]}"; do measure "$tool" "$file"; done
        done
    done
    if [ ${#slow[@]} -gt 0 ]; then
        file=$(gen "$SLOW_SIZE")
        prepare "$file"
        for _ in $(seq "$SLOW_RUNS"); do
            for tool in "${slow_round[@]}"; do measure "$tool" "$file"; done
        done
    fi
fi

python3 "$here/table.py" "$results" "$packets" | tee "$DATA/table-$stamp.md"
echo
echo "Correctness:"
cat "$checks"
if [ -n "$DOC" ]; then
    if [ -z "$DOC_KEY" ]; then
        if [ -n "$FILE" ]; then
            DOC_KEY=$(basename "$FILE" .pcap)
        else
            DOC_KEY="gen-$(IFS=-; echo "${SIZES[*]}")-$MIX"
        fi
    fi
    settings="RUNS=$RUNS SLOW_RUNS=$SLOW_RUNS"
    [ -z "$THREADS" ] || settings="THREADS=\"$THREADS\" $settings"
    [ -z "$COLD" ] || settings="COLD=$COLD $settings"
    [ "$TOOLS" = "$DEFAULT_TOOLS" ] || settings="TOOLS=\"$TOOLS\" $settings"
    if [ -n "$FILE" ]; then
        command="FILE=$FILE $settings bench/run.sh"
    else
        command="MIX=$MIX SEED=$SEED LINK=$LINK SLOW_SIZE=$SLOW_SIZE $settings bench/run.sh ${SIZES[*]}"
    fi
    BENCH_LOAD=$load_before BENCH_DATE=$started BENCH_COMMIT=$commit python3 "$here/doc.py" "$DOC" "$DOC_KEY" "$DATA/table-$stamp.md" "$checks" "$command"
fi
if [ "$failed" -ne 0 ]; then
    echo "bench: CORRECTNESS CHECK FAILED" >&2
    exit 1
fi
