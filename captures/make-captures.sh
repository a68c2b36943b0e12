#!/usr/bin/env bash
# Make the finscope sample captures from real programs on loopback.
#
# Usage (as root, from any directory):
#   captures/make-captures.sh              # every capture
#   captures/make-captures.sh NAME...      # only these (file names without extension)
#
# Roles and addresses (all on lo):
#   clients  127.0.0.10 (curl --interface, python bind); health checkers 127.0.0.21, .22
#   nginx    127.0.0.2:8080 (8443 for TLS, [::1]:8080 for IPv6); proxy_bind 127.0.0.2
#   backend  127.0.0.3:8887, scenarios/backend.py (python ThreadingHTTPServer, HTTP/1.1,
#            2 s idle timeout)
# nginx runs from its own config and prefix in a temp dir, never the system service.
# Every process started here is stopped by its PID. Servers are stopped only after
# tcpdump, so their shutdown does not show up in a capture.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SC=$HERE/scenarios
WORK=$(mktemp -d /tmp/finscope-captures.XXXXXX)
PIDS=()
LAST_PID=
CAP_PID=
CAP_FILE=

CLIENT=127.0.0.10
NGINX=127.0.0.2
BACKEND=127.0.0.3
FILTER4="tcp and (host $NGINX or host $BACKEND)"

log() { printf '== %s\n' "$*" >&2; }

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

# wait_listen ADDR PORT: until something listens there (no traffic is sent).
wait_listen() {
    local i
    for i in $(seq 100); do
        if ss -Hltn "( sport = :$2 )" | grep -qF "$1:$2"; then
            return 0
        fi
        sleep 0.1
    done
    log "nothing listens on $1:$2"
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

BACKEND_PID=
backend_start() {
    start_bg backend python3 "$SC/backend.py" "$BACKEND" 8887
    BACKEND_PID=$LAST_PID
    wait_listen "$BACKEND" 8887
}
backend_stop() { stop_pid "$BACKEND_PID"; }

NGINX_PID=
# nginx_start CONF [ADDR PORT]: CONF is a file name in scenarios/nginx/.
nginx_start() {
    local conf=$1 addr=${2:-$NGINX} port=${3:-8080} prefix
    prefix=$WORK/nginx-${conf%.conf}
    mkdir -p "$prefix"
    sed "s#@PREFIX@#$prefix#g" "$SC/nginx/$conf" >"$prefix/nginx.conf"
    start_bg "nginx-${conf%.conf}" nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/error.log"
    NGINX_PID=$LAST_PID
    wait_listen "$addr" "$port"
}
nginx_stop() { stop_pid "$NGINX_PID" TERM; }

# capture_start FILE FILTER [IFACE [TOOL [EXTRA...]]]: TOOL is tcpdump (default) or dumpcap.
capture_start() {
    CAP_FILE=$1
    local filter=$2 iface=${3:-lo} tool=${4:-tcpdump}
    shift 4 2>/dev/null || shift $#
    rm -f "$WORK/$CAP_FILE"
    if [[ $tool == dumpcap ]]; then
        start_bg capture dumpcap -i "$iface" -f "$filter" -w "$WORK/$CAP_FILE"
        CAP_PID=$LAST_PID
        wait_log "$WORK/capture.log" "Capturing on"
    else
        start_bg capture tcpdump -i "$iface" -U -Z root "$@" -w "$WORK/$CAP_FILE" "$filter"
        CAP_PID=$LAST_PID
        wait_log "$WORK/capture.log" "listening on"
    fi
    sleep 1
}

# capture_stop: stop the capture, keep TIME-WAIT as ss sees it, move the file into captures/.
capture_stop() {
    stop_pid "$CAP_PID" INT
    cat "$WORK/capture.log" >&2
    ss -Htan state time-wait >"$WORK/${CAP_FILE%.*}.time-wait"
    install -m 0644 "$WORK/$CAP_FILE" "$HERE/$CAP_FILE"
    log "wrote $HERE/$CAP_FILE ($(stat -c %s "$HERE/$CAP_FILE") bytes)"
    python3 "$SC/summarize.py" "$HERE/$CAP_FILE" --ss "$WORK/${CAP_FILE%.*}.time-wait" >&2 || true
}

curl_n() { # curl_n N URL_PREFIX [CURL ARGS...]: N separate curl processes, one request each
    local n=$1 url=$2 i
    shift 2
    for i in $(seq "$n"); do
        curl -sS -o /dev/null --interface "$CLIENT" "$@" "$url/$i"
        sleep 0.1
    done
}

# ---------------------------------------------------------------- Phase 1

cap_nginx_default_upstream() {
    backend_start
    nginx_start default-upstream.conf
    capture_start nginx-default-upstream.pcap "$FILTER4"
    curl_n 20 "http://$NGINX:8080/default"
    sleep 2
    capture_stop
    nginx_stop
    backend_stop
}

cap_nginx_upstream_keepalive() {
    backend_start
    nginx_start upstream-keepalive.conf
    capture_start nginx-upstream-keepalive.pcap "$FILTER4"
    # 4 overlapping slow requests make nginx open 4 upstream connections ...
    local i pids=()
    for i in 1 2 3 4; do
        curl -sS -o /dev/null --interface "$CLIENT" "http://$NGINX:8080/slow/$i" &
        pids+=($!)
    done
    wait "${pids[@]}"
    # ... then 16 sequential requests reuse the cached ones; the backend closes
    # each upstream connection after 2 s idle.
    curl_n 16 "http://$NGINX:8080/keepalive"
    sleep 3.5
    capture_stop
    nginx_stop
    backend_stop
}

cap_nginx_keepalive_timeout_0() {
    nginx_start keepalive-timeout-0.conf
    capture_start nginx-keepalive-timeout-0.pcap "$FILTER4"
    curl_n 20 "http://$NGINX:8080/kt0"
    sleep 1.5
    capture_stop
    nginx_stop
}

cap_nginx_keepalive_timeout_0_wait_eof() {
    # Same nginx, but a client that reads until nginx closes (no race with curl's close).
    nginx_start keepalive-timeout-0.conf
    capture_start nginx-keepalive-timeout-0-wait-eof.pcap "$FILTER4"
    python3 "$SC/clients.py" eof "$NGINX" 8080 10
    sleep 1
    capture_stop
    nginx_stop
}

cap_nginx_idle_timeout() {
    nginx_start idle-timeout.conf
    capture_start nginx-idle-timeout.pcap "$FILTER4"
    python3 "$SC/clients.py" idle "$NGINX" 8080 5 3
    sleep 1
    capture_stop
    nginx_stop
}

cap_rst_linger0() {
    backend_start
    capture_start rst-linger0.pcap "$FILTER4"
    python3 "$SC/clients.py" linger0 "$BACKEND" 8887 10
    sleep 1
    capture_stop
    backend_stop
}

cap_tuple_reuse() {
    backend_start
    capture_start tuple-reuse.pcap "$FILTER4"
    python3 "$SC/clients.py" reuse "$BACKEND" 8887 10 40000
    sleep 1
    capture_stop
    backend_stop
}

cap_ipv6() {
    nginx_start ipv6.conf '[::1]' 8080
    capture_start ipv6.pcap "ip6 and host ::1 and tcp port 8080"
    local i
    for i in $(seq 10); do
        curl -sS -o /dev/null -6 "http://[::1]:8080/v6/$i"
        sleep 0.1
    done
    sleep 1.5
    capture_stop
    nginx_stop
}

cap_any_sll2() {
    backend_start
    nginx_start default-upstream.conf
    capture_start any-sll2.pcap "$FILTER4" any tcpdump -y LINUX_SLL2
    curl_n 10 "http://$NGINX:8080/any"
    sleep 2
    capture_stop
    nginx_stop
    backend_stop
}

cap_pcapng_dumpcap() {
    backend_start
    capture_start pcapng-dumpcap.pcapng "$FILTER4" lo dumpcap
    # Two curl processes, each fetching three URLs over one keep-alive connection.
    local i
    for i in 1 2; do
        curl -sS -o /dev/null -o /dev/null -o /dev/null --interface "$CLIENT" \
            "http://$BACKEND:8887/ng/$i/a" "http://$BACKEND:8887/ng/$i/b" "http://$BACKEND:8887/ng/$i/c"
        sleep 0.2
    done
    sleep 1
    capture_stop
    backend_stop
}

cap_truncated() {
    # Cut nginx-keepalive-timeout-0.pcap inside the record at 72 % of the packets.
    local src=$HERE/nginx-keepalive-timeout-0.pcap
    [[ -f $src ]] || cap_nginx_keepalive_timeout_0
    local off
    off=$(python3 - "$src" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
magic = data[:4]
endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
pos, recs = 24, []
while pos + 16 <= len(data):
    caplen = struct.unpack(endian + "I", data[pos + 8:pos + 12])[0]
    recs.append((pos, caplen))
    pos += 16 + caplen
start, caplen = recs[int(len(recs) * 0.72)]
print(start + 16 + caplen // 2)
PY
)
    head -c "$off" "$src" >"$WORK/truncated.pcap"
    install -m 0644 "$WORK/truncated.pcap" "$HERE/truncated.pcap"
    log "wrote $HERE/truncated.pcap: first $off bytes of $(basename "$src")"
    capinfos "$HERE/truncated.pcap" >&2 || true
}

cap_not_a_capture() {
    printf 'This is not a packet capture.\nIt is a text file named .pcap, for the error path.\n' \
        >"$HERE/not-a-capture.pcap"
    chmod 0644 "$HERE/not-a-capture.pcap"
}

# ---------------------------------------------------------------- Phase 2

healthcheck() { # healthcheck CONF FILE
    backend_start
    nginx_start "$1"
    capture_start "$2" "$FILTER4"
    start_bg health python3 "$SC/clients.py" health "$NGINX" 8080 4 0.5 127.0.0.21 127.0.0.22
    local hc=$LAST_PID
    curl_n 10 "http://$NGINX:8080/my1" -H "Host: my1.com"
    wait "$hc"
    sleep 3
    capture_stop
    nginx_stop
    backend_stop
}
cap_healthcheck_no_keepalive() { healthcheck healthcheck-no-keepalive.conf healthcheck-no-keepalive.pcap; }
cap_healthcheck_fixed() { healthcheck healthcheck-fixed.conf healthcheck-fixed.pcap; }

cap_client_no_pool() {
    backend_start
    capture_start client-no-pool.pcap "$FILTER4"
    python3 "$SC/clients.py" nopool "http://$BACKEND:8887" 20
    sleep 1
    capture_stop
    backend_stop
}

cap_client_connection_close() {
    # HTTP/1.1 requests with `Connection: close`, straight from the client (no proxy hop):
    # the server closes each connection after its one request, as wrk -H 'Connection: close'.
    backend_start
    capture_start client-connection-close.pcap "$FILTER4"
    curl_n 20 "http://$BACKEND:8887/close" -H 'Connection: close'
    sleep 1
    capture_stop
    backend_stop
}

cap_client_pool() {
    backend_start
    capture_start client-pool.pcap "$FILTER4"
    python3 "$SC/clients.py" pool "http://$BACKEND:8887" 20 3
    sleep 1
    capture_stop
    backend_stop
}

cap_pipelined() {
    backend_start
    capture_start pipelined.pcap "$FILTER4"
    python3 "$SC/clients.py" pipeline "$BACKEND" 8887 5
    sleep 1
    capture_stop
    backend_stop
}

cap_chunked() {
    backend_start
    capture_start chunked.pcap "$FILTER4"
    # One curl process, four URLs: one keep-alive connection, curl closes when it exits.
    curl -sS -o /dev/null -o /dev/null -o /dev/null -o /dev/null --interface "$CLIENT" \
        "http://$BACKEND:8887/chunked/{1,2,3,4}"
    sleep 1
    capture_stop
    backend_stop
}

cap_tls() {
    local prefix=$WORK/nginx-tls
    mkdir -p "$prefix"
    openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 \
        -keyout "$prefix/key.pem" -out "$prefix/cert.pem" 2>"$WORK/openssl.log"
    nginx_start tls.conf "$NGINX" 8443
    capture_start tls.pcap "$FILTER4"
    curl_n 5 "https://$NGINX:8443/tls" -k --http1.1
    sleep 1.5
    capture_stop
    nginx_stop
}

cap_lost_segment() {
    backend_start
    capture_start lost-segment-full.pcap "$FILTER4"
    curl -sS -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null --interface "$CLIENT" \
        "http://$BACKEND:8887/lost/{1,2,3,4,5}"
    sleep 1
    stop_pid "$CAP_PID" INT
    backend_stop
    # Drop the segment that carries the head of the 3rd response (backend -> client).
    local frame
    frame=$(tshark -r "$WORK/lost-segment-full.pcap" -n -o tcp.desegment_tcp_streams:FALSE \
        -Y 'tcp.srcport == 8887 && frame contains "HTTP/1.1 200"' -T fields -e frame.number | sed -n 3p)
    editcap "$WORK/lost-segment-full.pcap" "$WORK/lost-segment.pcap" "$frame"
    install -m 0644 "$WORK/lost-segment.pcap" "$HERE/lost-segment.pcap"
    log "wrote $HERE/lost-segment.pcap: frame $frame of the original capture removed"
    echo "$frame" >"$WORK/lost-segment.frame"
    python3 "$SC/summarize.py" "$HERE/lost-segment.pcap" >&2 || true
}

ALL=(nginx-default-upstream nginx-upstream-keepalive nginx-keepalive-timeout-0
    nginx-keepalive-timeout-0-wait-eof nginx-idle-timeout
    rst-linger0 tuple-reuse ipv6 any-sll2 pcapng-dumpcap truncated not-a-capture
    healthcheck-no-keepalive healthcheck-fixed client-no-pool client-connection-close client-pool
    pipelined chunked tls
    lost-segment)

main() {
    [[ $EUID -eq 0 ]] || { log "run as root (tcpdump, dumpcap)"; exit 2; }
    local names=("$@") name
    ((${#names[@]})) || names=("${ALL[@]}")
    for name in "${names[@]}"; do
        name=${name%.pcap}
        name=${name%.pcapng}
        declare -F "cap_${name//-/_}" >/dev/null || { log "unknown capture: $name"; exit 2; }
    done
    for name in "${names[@]}"; do
        name=${name%.pcap}
        name=${name%.pcapng}
        log "capture $name"
        "cap_${name//-/_}"
    done
}

main "$@"
