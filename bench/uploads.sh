#!/usr/bin/env bash
# Upload benchmark: one large file sent to hearth (`hearth deploy`, which
# hashes, streams and stores it in SQLite) and to nginx (WebDAV PUT, which
# writes it to disk), in the same run: wall time and each server's peak RSS.
# Shows that an upload costs hearth bounded memory however large the file.
#
# Env knobs:
#   SIZE_MIB=512       size of the file
#   HEARTH_BIN=build/release/hearth   HEARTH_PORT=18087 NGINX_PORT=18088
#   SERVER_CPU=0       CPU the servers are pinned to (clients run on the others)
#   OUT=bench/last-uploads.md   KEEP_TMP=1 keeps the temp dir
set -u -o pipefail
BENCH_TAG=uploads
source "$(dirname "$0")/lib.sh"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
SIZE_MIB=${SIZE_MIB:-512}
HEARTH_BIN=${HEARTH_BIN:-$REPO_DIR/build/release/hearth}
HEARTH_PORT=${HEARTH_PORT:-18087}
NGINX_PORT=${NGINX_PORT:-18088}
SERVER_CPU=${SERVER_CPU:-0}
OUT=${OUT:-$SCRIPT_DIR/last-uploads.md}
KEEP_TMP=${KEEP_TMP:-0}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
require_posint SIZE_MIB
[[ -x $HEARTH_BIN ]] || die "hearth binary not found at $HEARTH_BIN (build it or set HEARTH_BIN)"
[[ -x $NGINX_BIN ]] || die "nginx not found (set NGINX_BIN)"
need_tools taskset curl awk date
for p in "$HEARTH_PORT" "$NGINX_PORT"; do port_busy "$p" && die "port $p is in use"; done

make_tmp hearth-uploads
mkdir -p "$TMP/site" "$TMP/data" "$TMP/nginx/put" "$TMP/logs"
echo "uploads: making a ${SIZE_MIB} MiB file" >&2
head -c $((SIZE_MIB << 20)) /dev/urandom >"$TMP/site/big.bin" || die "cannot write the file"

now_ms() { date +%s%3N; }

# ---- hearth
taskset -c "$SERVER_CPU" "$HEARTH_BIN" serve --http "127.0.0.1:$HEARTH_PORT" --data "$TMP/data" --workers 1 \
    --max-body-size "$((SIZE_MIB + 1))MiB" --log-level warn >"$TMP/logs/hearth.log" 2>&1 &
PID[hearth]=$!
for i in $(seq 100); do curl -sf "http://127.0.0.1:$HEARTH_PORT/_hearth/health" >/dev/null && break; sleep 0.1; done
idle_hearth=$(peak_rss_kib "${PID[hearth]}")
t0=$(now_ms)
"$HEARTH_BIN" deploy "$TMP/site" --site big.localhost --server "http://127.0.0.1:$HEARTH_PORT" --data "$TMP/data" \
    >"$TMP/logs/deploy.log" 2>&1 || die "deploy failed: $(tail -3 "$TMP/logs/deploy.log")"
hearth_ms=$(( $(now_ms) - t0 ))
peak_hearth=$(peak_rss_kib "${PID[hearth]}")

# ---- nginx (WebDAV PUT to disk)
cat >"$TMP/nginx/nginx.conf" <<NGINX
daemon off;
master_process off;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/logs/nginx-error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $TMP/nginx/put;
        client_max_body_size 0;
        location / { dav_methods PUT; }
    }
}
NGINX
start_nginx "$TMP/logs/nginx.out"
for i in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" && break; sleep 0.1; done
idle_nginx=$(peak_rss_kib "${PID[nginx]}")
t0=$(now_ms)
code=$(curl -s -o /dev/null -w '%{http_code}' -T "$TMP/site/big.bin" "http://127.0.0.1:$NGINX_PORT/big.bin")
nginx_ms=$(( $(now_ms) - t0 ))
[[ $code == 201 || $code == 204 ]] || die "nginx PUT answered $code"
peak_nginx=$(peak_rss_kib "${PID[nginx]}")
cmp -s "$TMP/site/big.bin" "$TMP/nginx/put/big.bin" || die "nginx stored different bytes"
got=$(curl -s -H 'Host: big.localhost' "http://127.0.0.1:$HEARTH_PORT/big.bin" | cmp - "$TMP/site/big.bin" && echo same)
[[ $got == same ]] || die "hearth serves different bytes"

{
    echo "## Upload of one ${SIZE_MIB} MiB file ($(date -u +%Y-%m-%d))"
    echo
    echo "| server | how | time | server peak RSS (idle before) |"
    echo "| --- | --- | --- | --- |"
    echo "| hearth | \`hearth deploy\` (hash, stream, store in SQLite) | ${hearth_ms} ms | $((peak_hearth / 1024)) MiB ($((idle_hearth / 1024)) MiB) |"
    echo "| nginx | WebDAV PUT with curl (to a file) | ${nginx_ms} ms | $((peak_nginx / 1024)) MiB ($((idle_nginx / 1024)) MiB) |"
    echo
    echo "hearth/nginx time: $(awk -v a="$hearth_ms" -v b="$nginx_ms" 'BEGIN { printf "%.2f", a / b }')x"
} | tee "$OUT"
