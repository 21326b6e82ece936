#!/usr/bin/env bash
# HTTPS benchmark: hearth vs nginx vs h2o, one worker each pinned to SERVER_CPU,
# the same ECDSA P-256 certificate and the same 1 KiB file, the load generator
# pinned to LOAD_CPU. Three scenarios, each server in turn:
#   full         full TLS handshakes per second: 4 `openssl s_time -new`
#                clients (no session reuse), one GET each
#   handshakes   new TLS connection per request (wrk, Connection: close);
#                wrk resumes its last session (a TLS 1.3 ticket), as
#                browsers do, so these are mostly resumed handshakes
#   https        1 KiB over kept-alive HTTPS/1.1 connections (wrk -c CONNS)
#   h2           1 KiB over HTTP/2, STREAMS streams per connection (h2load)
# Each line: requests/s and requests per server-CPU-second (utime+stime of
# the server process during the run), then hearth's ratios.
#
# Env knobs:
#   DURATION=5  CONNS=64  H2_CONNS=8  STREAMS=10  SERVERS="hearth nginx h2o"
#   ROUNDS=3    rounds over all servers (the order rotates); the median is reported
#   SCENARIOS="full handshakes https h2"  which of them to run
#   HEARTH_BIN=build/release/hearth  SERVER_CPU=0 LOAD_CPU=1
#   OUT=bench/last-tls.md  KEEP_TMP=1
set -u -o pipefail
BENCH_TAG=tls
source "$(dirname "$0")/lib.sh"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
H2_CONNS=${H2_CONNS:-8}
STREAMS=${STREAMS:-10}
SERVERS=${SERVERS:-"hearth nginx h2o"}
SCENARIOS=${SCENARIOS:-"full handshakes https h2"}
HEARTH_BIN=${HEARTH_BIN:-$REPO_DIR/build/release/hearth}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
OUT=${OUT:-$SCRIPT_DIR/last-tls.md}
KEEP_TMP=${KEEP_TMP:-0}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
H2O_BIN=${H2O_BIN:-$(command -v h2o || echo /usr/bin/h2o)}
require_posint DURATION
require_posint CONNS
need_tools curl wrk h2load openssl taskset awk
[[ -x $HEARTH_BIN ]] || die "hearth binary not found at $HEARTH_BIN (build it or set HEARTH_BIN)"
declare -A HTTP_PORT=([hearth]=18181 [nginx]=18182 [h2o]=18183)
declare -A TLS_PORT=([hearth]=18191 [nginx]=18192 [h2o]=18193)
for p in "${HTTP_PORT[@]}" "${TLS_PORT[@]}"; do port_busy "$p" && die "port $p is in use"; done
CLK_TCK=$(getconf CLK_TCK)

make_tmp hearth-tls
mkdir -p "$TMP/logs" "$TMP/www" "$TMP/nginx"
head -c 1024 /dev/urandom >"$TMP/www/1k.bin"
chmod 755 "$TMP" "$TMP/www"
chmod 644 "$TMP/www/1k.bin"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" \
    -days 30 -subj /CN=bench.test -addext "subjectAltName=DNS:bench.test,IP:127.0.0.1" 2>/dev/null ||
    die "cannot make the certificate"
chmod 644 "$TMP/key.pem" "$TMP/cert.pem"

start_server() {
    local s=$1 log="$TMP/logs/$1.out"
    case $s in
    hearth)
        # --root: `openssl s_time -www` (the full scenario) sends HTTP/1.0 with no Host, which no
        # site claims; without it hearth answered a 14-byte 404 where nginx sent the 1 KiB file.
        taskset -c "$SERVER_CPU" "$HEARTH_BIN" serve --workers 1 --http "127.0.0.1:${HTTP_PORT[hearth]}" \
            --https "127.0.0.1:${TLS_PORT[hearth]}" --data "$TMP/hearth-data" --access-log off --log-level warn \
            --root "$TMP/www" >"$log" 2>&1 &
        PID[hearth]=$!
        local i
        for i in $(seq 100); do curl -sf "http://127.0.0.1:${HTTP_PORT[hearth]}/_hearth/health" >/dev/null && break; sleep 0.1; done
        local c=(--server "http://127.0.0.1:${HTTP_PORT[hearth]}" --data "$TMP/hearth-data")
        "$HEARTH_BIN" sites add bench.test --default "${c[@]}" >/dev/null || die "hearth: sites add failed"
        "$HEARTH_BIN" deploy "$TMP/www" --site bench.test "${c[@]}" >/dev/null || die "hearth: deploy failed"
        "$HEARTH_BIN" cert import --cert "$TMP/cert.pem" --key "$TMP/key.pem" "${c[@]}" >/dev/null || die "hearth: cert import failed"
        ;;
    nginx)
        cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/logs/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 10000000;
    http2_max_requests 10000000;
    open_file_cache max=1000 inactive=60s;
    types { application/octet-stream bin; }
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    ssl_certificate $TMP/cert.pem;
    ssl_certificate_key $TMP/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets on;
    server {
        listen 127.0.0.1:${TLS_PORT[nginx]} ssl http2;
        listen 127.0.0.1:${HTTP_PORT[nginx]};
        root $TMP/www;
    }
}
EOF
        taskset -c "$SERVER_CPU" "$NGINX_BIN" -p "$TMP/nginx/" -e "$TMP/logs/nginx-error.log" -c "$TMP/nginx/nginx.conf" >"$log" 2>&1 &
        PID[nginx]=$!
        ;;
    h2o)
        cat >"$TMP/h2o.conf" <<EOF
error-log: $TMP/logs/h2o-error.log
access-log: /dev/null
num-threads: 1
http2-max-concurrent-requests-per-connection: 100
listen:
  host: 127.0.0.1
  port: ${TLS_PORT[h2o]}
  ssl:
    certificate-file: $TMP/cert.pem
    key-file: $TMP/key.pem
    minimum-version: TLSv1.2
    ocsp-update-interval: 0
listen:
  host: 127.0.0.1
  port: ${HTTP_PORT[h2o]}
hosts:
  default:
    paths:
      /:
        file.dir: $TMP/www
EOF
        taskset -c "$SERVER_CPU" "$H2O_BIN" -c "$TMP/h2o.conf" >"$log" 2>&1 &
        PID[h2o]=$!
        ;;
    esac
    local i
    for i in $(seq 100); do
        curl -sf --cacert "$TMP/cert.pem" --resolve "bench.test:${TLS_PORT[$s]}:127.0.0.1" \
            "https://bench.test:${TLS_PORT[$s]}/1k.bin" -o /dev/null && return 0
        sleep 0.1
    done
    die "$s did not answer over HTTPS (log: $log)"
}

stop_server() {
    local p=${PID[$1]}
    kill -TERM $(tree_pids "$p") 2>/dev/null
    wait "$p" 2>/dev/null
    unset "PID[$1]"
}

# run SERVER SCENARIO -> "req/s req/cpu-s"
run() {
    local s=$1 sc=$2 port=${TLS_PORT[$1]} out="$TMP/logs/$1-$2.txt" t0 t1 rps
    t0=$(cpu_ticks "${PID[$s]}")
    case $sc in
    full)
        local k pids=()
        for k in 1 2 3 4; do
            timeout $(( DURATION + 30 )) taskset -c "$LOAD_CPU" openssl s_time -connect "127.0.0.1:$port" -new \
                -time "$DURATION" -www /1k.bin >"$out.$k" 2>&1 &
            pids+=($!)
        done
        wait "${pids[@]}"
        rps=$(cat "$out".? | awk -v d="$DURATION" '/connections in [0-9]+ real seconds/ {n += $1} END {printf "%.0f", n / d}') ;;
    handshakes)
        timeout $(( DURATION + 30 )) taskset -c "$LOAD_CPU" wrk -t1 -c16 -d"${DURATION}s" -H 'Connection: close' \
            "https://127.0.0.1:$port/1k.bin" >"$out" 2>&1
        rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$out") ;;
    https)
        timeout $(( DURATION + 30 )) taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" \
            "https://127.0.0.1:$port/1k.bin" >"$out" 2>&1
        rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$out") ;;
    h2)
        timeout $(( DURATION + 30 )) taskset -c "$LOAD_CPU" h2load -t1 -c"$H2_CONNS" -m"$STREAMS" -D"$DURATION" \
            "https://127.0.0.1:$port/1k.bin" >"$out" 2>&1
        grep -q "Application protocol: h2" "$out" || note "$s: h2load did not negotiate h2"
        rps=$(awk '/^finished in/ {for (i=1;i<=NF;i++) if ($i ~ /req\/s/) {v=$(i-1); gsub(",","",v); printf "%.0f", v}}' "$out") ;;
    esac
    t1=$(cpu_ticks "${PID[$s]}")
    local cpu_s
    cpu_s=$(awk -v a="$t0" -v b="$t1" -v hz="$CLK_TCK" 'BEGIN { printf "%.3f", (b - a) / hz }')
    local reqs
    reqs=$(awk -v r="${rps:-0}" -v d="$DURATION" 'BEGIN { printf "%.0f", r * d }')
    echo "${rps:-0} $(awk -v n="$reqs" -v c="$cpu_s" 'BEGIN { if (c > 0) printf "%.0f", n / c; else print 0 }')"
}

declare -A R=()
declare -A ALL=()  # server,scenario -> "rps rpc" lines, one per round
read -r -a LIST <<<"$SERVERS"
for (( round = 1; round <= ROUNDS; round++ )); do
    n=${#LIST[@]}
    for (( j = 0; j < n; j++ )); do
        s=${LIST[$(( (j + round - 1) % n ))]}
        case $s in
        nginx) [[ -x $NGINX_BIN ]] || { note "nginx not found; skipping"; continue; } ;;
        h2o) [[ -x $H2O_BIN ]] || { note "h2o not found; skipping"; continue; } ;;
        esac
        echo "tls: round $round: $s" >&2
        start_server "$s"
        for sc in $SCENARIOS; do
            v=$(run "$s" "$sc")
            ALL[$s,$sc]+="$v"$'\n'
            echo "tls:   $sc $v" >&2
        done
        stop_server "$s"
        rm -rf "$TMP/hearth-data"
    done
done
# The median round by req/s.
for key in "${!ALL[@]}"; do
    R[$key]=$(printf '%s' "${ALL[$key]}" | sort -n -k1,1 | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }')
done

{
    echo "## HTTPS: handshakes, kept-alive HTTPS/1.1 and HTTP/2 ($(date -u +%Y-%m-%d))"
    echo
    echo "- one worker each, pinned to CPU $SERVER_CPU; load on CPU $LOAD_CPU; the same ECDSA P-256 certificate; 1 KiB file;"
    echo "  median of $ROUNDS rounds (server order rotating)"
    echo "- full: 4 x openssl s_time -new (a full handshake and a GET per connection); handshakes: wrk -t1 -c16,"
    echo "  Connection: close (a new connection per request; wrk resumes its session); https: wrk -t1 -c$CONNS;"
    echo "  h2: h2load -t1 -c$H2_CONNS -m$STREAMS; ${DURATION}s each; nginx $("$NGINX_BIN" -v 2>&1 | awk -F/ '{print $2}'),"
    echo "  h2o $("$H2O_BIN" --version 2>/dev/null | awk 'NR==1 {print $3}'), keepalive_requests and http2_max_requests raised"
    echo
    echo "| scenario | server | req/s | req per CPU-s | hearth/this req/s | hearth/this per CPU-s |"
    echo "| --- | --- | ---: | ---: | ---: | ---: |"
    for sc in $SCENARIOS; do
        for s in $SERVERS; do
            [[ -n ${R[$s,$sc]:-} ]] || continue
            read -r rps rpc <<<"${R[$s,$sc]}"
            read -r hr hc <<<"${R[hearth,$sc]:-0 0}"
            echo "| $sc | $s | $rps | $rpc | $(ratio "$hr" "$rps") | $(ratio "$hc" "$rpc") |"
        done
    done
    print_notes
} | tee "$OUT"
