#!/usr/bin/env bash
# Reverse-proxy benchmark: hearth vs nginx (proxy_pass, keepalive pool) vs
# caddy (reverse_proxy), each one worker (caddy: GOMAXPROCS=1) pinned to
# PROXY_CPU, all forwarding to the same upstream: an nginx answering a 1 KiB
# body from memory, pinned with the load generator to LOAD_CPU. Scenarios:
#   get      GET of the 1 KiB answer over kept-alive connections (wrk -c CONNS)
#   post     POST of a 4 KiB body, the same answer
# Each line: requests/s and requests per proxy-CPU-second (utime+stime of the
# proxy's processes during the run), then hearth's ratios.
#
# Env knobs:
#   DURATION=5  CONNS=64  ROUNDS=3  SERVERS="hearth nginx caddy"
#   HEARTH_BIN=build/release/hearth  PROXY_CPU=0 LOAD_CPU=1
#   OUT=bench/last-proxy.md  KEEP_TMP=1
set -u -o pipefail
BENCH_TAG=proxy
source "$(dirname "$0")/lib.sh"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
SERVERS=${SERVERS:-"hearth nginx caddy"}
HEARTH_BIN=${HEARTH_BIN:-$REPO_DIR/build/release/hearth}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
OUT=${OUT:-$SCRIPT_DIR/last-proxy.md}
KEEP_TMP=${KEEP_TMP:-0}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
CADDY_BIN=${CADDY_BIN:-$(command -v caddy || echo /usr/bin/caddy)}
require_posint DURATION
require_posint CONNS
require_posint ROUNDS
need_tools curl wrk taskset awk
[[ -x $HEARTH_BIN ]] || die "hearth binary not found at $HEARTH_BIN (build it or set HEARTH_BIN)"
[[ -x $NGINX_BIN ]] || die "nginx is needed as the upstream (scripts/deps.sh --bench)"
UP_PORT=18280
declare -A PORT=([hearth]=18281 [nginx]=18282 [caddy]=18283)
for p in "$UP_PORT" "${PORT[@]}"; do port_busy "$p" && die "port $p is in use"; done
CLK_TCK=$(getconf CLK_TCK)

make_tmp hearth-proxy
mkdir -p "$TMP/logs" "$TMP/up" "$TMP/nginx" "$TMP/caddy"
BODY=$(head -c 768 /dev/urandom | base64 -w0 | head -c 1024)
head -c 4096 /dev/urandom >"$TMP/post.bin"
cat >"$TMP/post.lua" <<EOF
wrk.method = "POST"
local f = io.open("$TMP/post.bin", "rb")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
EOF

nginx_common() {
    cat <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $1/error.log warn;
events { worker_connections 4096; }
EOF
}

# The upstream: answers every request with the same 1 KiB from memory,
# reading (and dropping) request bodies.
nginx_common "$TMP/up" >"$TMP/up/nginx.conf"
cat >>"$TMP/up/nginx.conf" <<EOF
pid $TMP/up/nginx.pid;
http {
    access_log off;
    keepalive_requests 10000000;
    client_body_temp_path $TMP/up/body;
    client_body_buffer_size 64k;
    proxy_temp_path $TMP/up/proxy;
    fastcgi_temp_path $TMP/up/fastcgi;
    uwsgi_temp_path $TMP/up/uwsgi;
    scgi_temp_path $TMP/up/scgi;
    server {
        listen 127.0.0.1:$UP_PORT backlog=4096;
        location / {
            default_type text/plain;
            return 200 "$BODY";
        }
    }
}
EOF
taskset -c "$LOAD_CPU" "$NGINX_BIN" -p "$TMP/up/" -e "$TMP/up/error.log" -c "$TMP/up/nginx.conf" >"$TMP/logs/upstream.out" 2>&1 &
PID[upstream]=$!
for i in $(seq 50); do curl -sf "http://127.0.0.1:$UP_PORT/" -o /dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$UP_PORT/" -o /dev/null || die "the upstream nginx did not start (see $TMP/up/error.log)"

start_server() {
    local s=$1 log="$TMP/logs/$1.out"
    case $s in
    hearth)
        taskset -c "$PROXY_CPU" "$HEARTH_BIN" serve --workers 1 --http "127.0.0.1:${PORT[hearth]}" \
            --data "$TMP/hearth-data" --access-log off --log-level warn >"$log" 2>&1 &
        PID[hearth]=$!
        local i
        for i in $(seq 100); do curl -sf "http://127.0.0.1:${PORT[hearth]}/_hearth/health" >/dev/null && break; sleep 0.1; done
        "$HEARTH_BIN" sites add bench.test --default --proxy "http://127.0.0.1:$UP_PORT" \
            --server "http://127.0.0.1:${PORT[hearth]}" --data "$TMP/hearth-data" >/dev/null || die "hearth: sites add failed"
        ;;
    nginx)
        nginx_common "$TMP/nginx" >"$TMP/nginx/nginx.conf"
        cat >>"$TMP/nginx/nginx.conf" <<EOF
pid $TMP/nginx/nginx.pid;
http {
    access_log off;
    tcp_nodelay on;
    keepalive_requests 10000000;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    upstream up {
        server 127.0.0.1:$UP_PORT;
        keepalive 128;
        keepalive_requests 10000000;
    }
    server {
        listen 127.0.0.1:${PORT[nginx]} backlog=4096;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$remote_addr;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
EOF
        taskset -c "$PROXY_CPU" "$NGINX_BIN" -p "$TMP/nginx/" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" >"$log" 2>&1 &
        PID[nginx]=$!
        ;;
    caddy)
        cat >"$TMP/caddy/Caddyfile" <<EOF
{
    admin off
    auto_https off
    storage file_system $TMP/caddy/data
}
http://127.0.0.1:${PORT[caddy]} {
    reverse_proxy 127.0.0.1:$UP_PORT
}
EOF
        HOME="$TMP/caddy" XDG_DATA_HOME="$TMP/caddy" XDG_CONFIG_HOME="$TMP/caddy" GOMAXPROCS=1 \
            taskset -c "$PROXY_CPU" "$CADDY_BIN" run --config "$TMP/caddy/Caddyfile" --adapter caddyfile >"$log" 2>&1 &
        PID[caddy]=$!
        ;;
    esac
    local i
    for i in $(seq 100); do
        curl -sf "http://127.0.0.1:${PORT[$s]}/x" -o /dev/null && return 0
        sleep 0.1
    done
    die "$s did not answer through to the upstream (log: $log)"
}

stop_server() {
    local p=${PID[$1]}
    kill -TERM $(tree_pids "$p") 2>/dev/null
    wait "$p" 2>/dev/null
    unset "PID[$1]"
}

# run SERVER SCENARIO -> "req/s req/cpu-s"
run() {
    local s=$1 sc=$2 url="http://127.0.0.1:${PORT[$1]}/x" out="$TMP/logs/$1-$2.txt" t0 t1 rps extra=()
    [[ $sc == post ]] && extra=(-s "$TMP/post.lua")
    # A short warm-up: pools fill, caches settle.
    timeout 10 taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d1s "${extra[@]}" "$url" >/dev/null 2>&1
    t0=$(cpu_ticks "${PID[$s]}")
    timeout $(( DURATION + 30 )) taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "${extra[@]}" "$url" >"$out" 2>&1
    t1=$(cpu_ticks "${PID[$s]}")
    rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$out")
    if grep -q "Non-2xx" "$out"; then note "$s $sc: $(grep Non-2xx "$out")"; fi
    local cpu_s reqs
    cpu_s=$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" 'BEGIN { printf "%.3f", (b - a) / hz }')
    reqs=$(awk -v r="${rps:-0}" -v d="$DURATION" 'BEGIN { printf "%.0f", r * d }')
    echo "${rps:-0} $(awk -v n="$reqs" -v c="$cpu_s" 'BEGIN { if (c > 0) printf "%.0f", n / c; else print 0 }')"
}

declare -A R=()
declare -A ALL=()
read -r -a LIST <<<"$SERVERS"
for (( round = 1; round <= ROUNDS; round++ )); do
    n=${#LIST[@]}
    for (( j = 0; j < n; j++ )); do
        s=${LIST[$(( (j + round - 1) % n ))]}
        case $s in
        caddy) [[ -x $CADDY_BIN ]] || { note "caddy not found; skipping"; continue; } ;;
        esac
        echo "proxy: round $round: $s" >&2
        start_server "$s"
        for sc in get post; do
            v=$(run "$s" "$sc")
            ALL[$s,$sc]+="$v"$'\n'
            echo "proxy:   $sc $v" >&2
        done
        stop_server "$s"
        rm -rf "$TMP/hearth-data"
    done
done
for key in "${!ALL[@]}"; do
    R[$key]=$(printf '%s' "${ALL[$key]}" | sort -n -k1,1 | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }')
done

{
    echo "## Reverse proxy: hearth vs nginx proxy_pass vs caddy reverse_proxy ($(date -u +%Y-%m-%d))"
    echo
    echo "- one worker each (caddy: GOMAXPROCS=1), pinned to CPU $PROXY_CPU; the upstream (nginx, a 1 KiB answer from"
    echo "  memory) and wrk on CPU $LOAD_CPU; kept-alive connections both sides; wrk -t1 -c$CONNS, ${DURATION}s;"
    echo "  median of $ROUNDS rounds (order rotating); post sends 4 KiB bodies"
    echo "- nginx $("$NGINX_BIN" -v 2>&1 | awk -F/ '{print $2}') (upstream keepalive 128),"
    echo "  caddy $("$CADDY_BIN" version 2>/dev/null | awk '{print $1}')"
    echo
    echo "| scenario | server | req/s | req per CPU-s | hearth/this req/s | hearth/this per CPU-s |"
    echo "| --- | --- | ---: | ---: | ---: | ---: |"
    for sc in get post; do
        for s in $SERVERS; do
            [[ -n ${R[$s,$sc]:-} ]] || continue
            read -r rps rpc <<<"${R[$s,$sc]}"
            read -r hr hc <<<"${R[hearth,$sc]:-0 0}"
            echo "| $sc | $s | $rps | $rpc | $(ratio "$hr" "$rps") | $(ratio "$hc" "$rpc") |"
        done
    done
    print_notes
} | tee "$OUT"
