#!/usr/bin/env bash
# Take a LARGE real capture on loopback for benchmarks (issue 6): nginx proxying to an nginx
# backend, driven by wrk, captured by tcpdump. The file goes outside the repository.
#
# Usage (as root):
#   captures/make-large.sh [SIZE]        # default 1.8G (decimal: 1.8G = 1.8e9 bytes)
#
# Roles and addresses (all on lo):
#   wrk      127.0.0.1 -> nginx proxy 127.0.0.2:18080
#   proxy    nginx, proxy_http_version 1.0 (no upstream keep-alive: one upstream connection per
#            request, closed by the backend), proxy_bind 127.0.0.2
#   backend  a second nginx server block on 127.0.0.3:18887 serving a 615-byte static page
#   clients  two wrk processes at once: CLOSE_CONNS connections sending `Connection: close`
#            (a new client connection per request, closed by nginx) and KEEP_CONNS keep-alive
#            connections (nginx closes each after its 1000th request)
#   tcpdump  -i lo -B 65536 on ports 18080 and 18887, until the file reaches SIZE; then wrk
#            stops, 2 s pass for the last closes, and tcpdump stops.
# Prints tcpdump's own counts, including "packets dropped by kernel".
#
# Environment (defaults): OUT=/work/bench-data/real-nginx-wrk.pcap CLOSE_CONNS=32
#   KEEP_CONNS=32 MAX_SECONDS=1200 (stop anyway after this long)
# Needs nginx, wrk and tcpdump (apt-get install -y nginx wrk tcpdump). nginx runs from its
# own config in a temp dir, never the system service; every process started here is stopped
# by its PID.
set -euo pipefail

SIZE_ARG=${1:-1.8G}
OUT=${OUT:-/work/bench-data/real-nginx-wrk.pcap}
CLOSE_CONNS=${CLOSE_CONNS:-32}
KEEP_CONNS=${KEEP_CONNS:-32}
MAX_SECONDS=${MAX_SECONDS:-1200}

PROXY=127.0.0.2
PROXY_PORT=18080
BACKEND=127.0.0.3
BACKEND_PORT=18887

log() { printf '== %s\n' "$*" >&2; }

size_bytes() { # 1.8G -> 1800000000
    python3 -c '
import sys
s = sys.argv[1]
mult = {"K": 10**3, "M": 10**6, "G": 10**9}.get(s[-1:].upper(), 1)
num = s[:-1] if mult > 1 else s
print(int(float(num) * mult))' "$1"
}
SIZE=$(size_bytes "$SIZE_ARG") || { log "bad SIZE $SIZE_ARG (e.g. 1.8G, 200M)"; exit 2; }

for tool in nginx wrk tcpdump ss; do
    command -v "$tool" >/dev/null || { log "$tool missing: apt-get install -y nginx wrk tcpdump"; exit 2; }
done
for port in $PROXY_PORT $BACKEND_PORT; do
    if ss -Hltn "( sport = :$port )" | grep -q .; then
        log "something already listens on port $port"
        exit 2
    fi
done

WORK=$(mktemp -d /tmp/finscope-large.XXXXXX)
PIDS=()
LAST_PID=

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# start_bg NAME CMD...: run CMD in the background, remember its PID in LAST_PID.
start_bg() {
    local name=$1
    shift
    "$@" >"$WORK/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# stop_pid PID [SIGNAL]
stop_pid() {
    local pid=$1 sig=${2:-TERM} p keep=()
    kill -s "$sig" "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do
        [[ $p == "$pid" ]] || keep+=("$p")
    done
    PIDS=("${keep[@]+"${keep[@]}"}")
}

wait_listen() { # wait_listen ADDR PORT
    local i
    for i in $(seq 100); do
        ss -Hltn "( sport = :$2 )" | grep -qF "$1:$2" && return 0
        sleep 0.1
    done
    log "nothing listens on $1:$2"
    cat "$WORK"/*.log >&2 || true
    return 1
}

wait_log() { # wait_log FILE TEXT
    local i
    for i in $(seq 100); do
        grep -qF "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    log "no '$2' in $1:"
    cat "$1" >&2
    return 1
}

# The backend's page: the size of nginx's default index.html (615 bytes).
mkdir -p "$WORK/html"
python3 - "$WORK/html/index.html" <<'EOF'
import sys
head = "<!DOCTYPE html>\n<html>\n<head>\n<title>finscope large capture</title>\n</head>\n<body>\n<p>"
tail = "</p>\n</body>\n</html>\n"
fill = "x" * (615 - len(head) - len(tail))
open(sys.argv[1], "w").write(head + fill + tail)
EOF

cat >"$WORK/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
user root;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/body;
    proxy_temp_path $WORK/proxy;
    fastcgi_temp_path $WORK/fastcgi;
    uwsgi_temp_path $WORK/uwsgi;
    scgi_temp_path $WORK/scgi;

    # The proxy: HTTP/1.0 upstream, so one upstream connection per request.
    server {
        listen $PROXY:$PROXY_PORT backlog=4096;
        location / {
            proxy_pass http://$BACKEND:$BACKEND_PORT;
            proxy_http_version 1.0;
            proxy_bind $PROXY;
        }
    }
    # The backend: a static page.
    server {
        listen $BACKEND:$BACKEND_PORT backlog=4096;
        root $WORK/html;
    }
}
EOF

mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"

start_bg nginx nginx -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/error.log"
NGINX_PID=$LAST_PID
wait_listen "$PROXY" "$PROXY_PORT"
wait_listen "$BACKEND" "$BACKEND_PORT"

start_bg tcpdump tcpdump -i lo -B 65536 -n -Z root -w "$OUT" \
    "tcp and (port $PROXY_PORT or port $BACKEND_PORT)"
TCPDUMP_PID=$LAST_PID
wait_log "$WORK/tcpdump.log" "listening on"
sleep 1

log "capturing to $OUT until it holds $SIZE bytes (at most $MAX_SECONDS s)"
start_time=$(date +%s)
WRK_PIDS=()
if [ "$CLOSE_CONNS" -gt 0 ]; then
    start_bg wrk-close wrk -t1 -c"$CLOSE_CONNS" -d"${MAX_SECONDS}s" -H 'Connection: close' \
        "http://$PROXY:$PROXY_PORT/index.html"
    WRK_PIDS+=("$LAST_PID")
fi
if [ "$KEEP_CONNS" -gt 0 ]; then
    start_bg wrk-keep wrk -t1 -c"$KEEP_CONNS" -d"${MAX_SECONDS}s" \
        "http://$PROXY:$PROXY_PORT/index.html"
    WRK_PIDS+=("$LAST_PID")
fi

last_report=0
while :; do
    sleep 0.5
    now=$(( $(date +%s) - start_time ))
    have=$(stat -c %s "$OUT" 2>/dev/null || echo 0)
    [ "$have" -ge "$SIZE" ] && break
    [ "$now" -ge "$MAX_SECONDS" ] && { log "MAX_SECONDS reached"; break; }
    if [ $(( now - last_report )) -ge 15 ]; then
        log "$now s: $have bytes"
        last_report=$now
    fi
done
elapsed=$(( $(date +%s) - start_time ))

for pid in "${WRK_PIDS[@]}"; do stop_pid "$pid" INT; done
sleep 2 # the last connections finish closing
stop_pid "$TCPDUMP_PID" INT
stop_pid "$NGINX_PID" QUIT

log "wrote $OUT: $(stat -c %s "$OUT") bytes in about $elapsed s"
log "tcpdump said:"
grep -E 'packets (captured|received by filter|dropped by kernel)' "$WORK/tcpdump.log" >&2
dropped=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$WORK/tcpdump.log")
echo "file=$OUT"
echo "bytes=$(stat -c %s "$OUT")"
echo "seconds=$elapsed"
echo "tcpdump_$(grep -E 'packets captured' "$WORK/tcpdump.log" | awk '{print "packets_captured=" $1}')"
echo "tcpdump_dropped_by_kernel=${dropped:-unknown}"
for f in "$WORK"/wrk-*.log; do
    [ -s "$f" ] && { log "$(basename "$f" .log):"; cat "$f" >&2; }
done
if [ -s "$WORK/error.log" ]; then
    log "nginx error log (last lines):"
    tail -n 5 "$WORK/error.log" >&2
fi
