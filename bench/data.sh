#!/usr/bin/env bash
# Data API benchmark: record creates/s and list requests/s over HTTP with 64
# connections (wrk, POST/GET at PocketBase's paths), beside the raw SQLite
# ceiling measured in the same run on the same machine (the sqlite3 shell:
# one transaction for everything, and one transaction per insert).
#
# Env knobs:
#   RECORDS=100000   creates in the timed run     CONNS=64   DURATION=5 (list run, s)
#   WORKERS=2        hearth workers               HEARTH_PORT=18089
#   SSE_CLIENTS=2000 idle realtime streams (the per-address cap is raised to fit)
#   HEARTH_BIN=build/release/hearth   OUT=bench/last-data.md   KEEP_TMP=1
set -u -o pipefail
BENCH_TAG=data
source "$(dirname "$0")/lib.sh"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
RECORDS=${RECORDS:-100000}
CONNS=${CONNS:-64}
DURATION=${DURATION:-5}
WORKERS=${WORKERS:-2}
HEARTH_PORT=${HEARTH_PORT:-18089}
HEARTH_BIN=${HEARTH_BIN:-$REPO_DIR/build/release/hearth}
OUT=${OUT:-$SCRIPT_DIR/last-data.md}
KEEP_TMP=${KEEP_TMP:-0}
WRK_BIN=${WRK_BIN:-$(command -v wrk || echo /usr/bin/wrk)}
require_posint RECORDS
require_posint CONNS
[[ -x $HEARTH_BIN ]] || die "hearth binary not found at $HEARTH_BIN (build it or set HEARTH_BIN)"
[[ -x $WRK_BIN ]] || die "wrk not found (set WRK_BIN)"
need_tools curl sqlite3 awk date
port_busy "$HEARTH_PORT" && die "port $HEARTH_PORT is in use"

make_tmp hearth-data
mkdir -p "$TMP/logs"
now_ms() { date +%s%3N; }
B=http://127.0.0.1:$HEARTH_PORT

# Every client here is one address (127.0.0.1): the per-address connection cap
# (default 512, right for a server on the internet) would refuse most of the
# SSE_CLIENTS streams below, so the cap is sized for this bench, not lifted.
SSE_CLIENTS=${SSE_CLIENTS:-2000}
require_posint SSE_CLIENTS
PER_IP=$(( SSE_CLIENTS + CONNS + 64 ))
"$HEARTH_BIN" serve --http "127.0.0.1:$HEARTH_PORT" --data "$TMP/data" --workers "$WORKERS" --access-log off \
    --max-connections-per-ip "$PER_IP" --log-level warn >"$TMP/logs/hearth.log" 2>&1 &
PID[hearth]=$!
for i in $(seq 100); do curl -sf "$B/_hearth/health" >/dev/null && break; sleep 0.1; done
TOKEN=$(cat "$TMP/data/admin.token")
api() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@" >/dev/null || die "setup call failed: $*"; }
api -d '{"name":"bench.localhost","default":true}' "$B/_hearth/api/sites"
api -d '{"name":"posts","fields":[{"name":"title","type":"text"},{"name":"n","type":"number"}],"listRule":"","viewRule":"","createRule":""}' \
    "$B/_hearth/api/sites/bench.localhost/collections"

cat >"$TMP/create.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"title":"hello world","n":42}'
wrk.headers["Content-Type"] = "application/json"
LUA
count() { curl -s "$B/api/collections/posts/records?perPage=1" | sed -n 's/.*"totalItems":\([0-9]*\).*/\1/p'; }
# wrk runs until RECORDS records exist (polled every 200 ms), then is stopped.
echo "data: $RECORDS creates over HTTP ($CONNS connections)" >&2
t0=$(now_ms)
"$WRK_BIN" -t1 -c"$CONNS" -d300s -s "$TMP/create.lua" "$B/api/collections/posts/records" >"$TMP/logs/create.txt" 2>&1 &
WRK_PID=$!
while :; do
    created=$(count)
    (( ${created:-0} >= RECORDS )) && break
    kill -0 "$WRK_PID" 2>/dev/null || die "wrk ended early: $(tail -3 "$TMP/logs/create.txt")"
    sleep 0.2
done
create_ms=$(( $(now_ms) - t0 ))
kill "$WRK_PID" 2>/dev/null; wait "$WRK_PID" 2>/dev/null; WRK_PID=""
create_rps=$(awk -v n="$RECORDS" -v ms="$create_ms" 'BEGIN { printf "%.0f", n * 1000 / ms }')

echo "data: list requests for ${DURATION}s" >&2
"$WRK_BIN" -t2 -c"$CONNS" -d"${DURATION}s" "$B/api/collections/posts/records?perPage=20&skipTotal=1" >"$TMP/logs/list.txt" 2>&1
list_rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$TMP/logs/list.txt")
"$WRK_BIN" -t2 -c"$CONNS" -d"${DURATION}s" "$B/api/collections/posts/records?perPage=20&filter=n%3D42&sort=-created" >"$TMP/logs/list-count.txt" 2>&1
list_count_rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$TMP/logs/list-count.txt")
peak=$(peak_rss_kib "${PID[hearth]}")

# Idle realtime subscribers: RSS before and after SSE_CLIENTS streams open.
rss_now() { awk '/^VmRSS:/ {print $2}' "/proc/${PID[hearth]}/status"; }
ulimit -n 8192 2>/dev/null || true
rss_before=$(rss_now)
mkfifo "$TMP/sse-in"
node "$SCRIPT_DIR/sse-clients.mjs" "$B/api/realtime" "$SSE_CLIENTS" <"$TMP/sse-in" >"$TMP/logs/sse.txt" 2>&1 &
SSE_PID=$!
exec 9>"$TMP/sse-in"
for i in $(seq 200); do grep -q ready "$TMP/logs/sse.txt" && break; sleep 0.1; done
grep -q ready "$TMP/logs/sse.txt" || die "the SSE clients did not connect: $(tail -2 "$TMP/logs/sse.txt")"
sleep 0.5
rss_sse=$(rss_now)
exec 9>&-
wait "$SSE_PID" 2>/dev/null

# The raw SQLite ceiling, same table shape, same pragmas.
echo "data: raw SQLite" >&2
DDL="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
CREATE TABLE posts (id TEXT PRIMARY KEY NOT NULL, created TEXT NOT NULL DEFAULT '', updated TEXT NOT NULL DEFAULT '', title TEXT NOT NULL DEFAULT '', n NUMERIC NOT NULL DEFAULT 0);"
sqlite3 "$TMP/one.db" "$DDL" >/dev/null
t0=$(now_ms)
sqlite3 "$TMP/one.db" "INSERT INTO posts SELECT lower(hex(randomblob(8))), strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now'), 'hello world', 42 FROM generate_series(1, $RECORDS);" || die "sqlite3 failed"
one_ms=$(( $(now_ms) - t0 ))
sqlite3 "$TMP/each.db" "$DDL" >/dev/null
awk -v n="$RECORDS" 'BEGIN { print "PRAGMA synchronous=NORMAL;"; for (i = 0; i < n; i++) printf "INSERT INTO posts VALUES (lower(hex(randomblob(8))), strftime(\x27%%Y-%%m-%%d %%H:%%M:%%f\x27, \x27now\x27), \x27\x27, \x27hello world\x27, 42);\n" }' >"$TMP/each.sql"
t0=$(now_ms)
sqlite3 "$TMP/each.db" <"$TMP/each.sql" >/dev/null || die "sqlite3 failed"
each_ms=$(( $(now_ms) - t0 ))

rate() { awk -v n="$RECORDS" -v ms="$1" 'BEGIN { printf "%.0f", n * 1000 / ms }'; }
{
    echo "## Data API: $RECORDS record creates and lists ($(date -u +%Y-%m-%d))"
    echo
    echo "- hearth \`serve --workers $WORKERS --access-log off --max-connections-per-ip $PER_IP\`; wrk \`-t1 -c$CONNS\` (creates), \`-t2\` (lists), both on this $(nproc)-core machine (not pinned)"
    echo
    echo "| what | time | per second |"
    echo "| --- | ---: | ---: |"
    echo "| hearth: $RECORDS × POST /api/collections/posts/records (time until all exist) | ${create_ms} ms | $create_rps |"
    echo "| hearth: GET records?perPage=20&skipTotal=1 | ${DURATION} s | $list_rps |"
    echo "| hearth: GET records?perPage=20&filter=n=42&sort=-created (with totals) | ${DURATION} s | $list_count_rps |"
    echo "| raw SQLite: one INSERT…SELECT of $RECORDS rows, one transaction | ${one_ms} ms | $(rate "$one_ms") |"
    echo "| raw SQLite: $RECORDS INSERTs, one transaction each (WAL, synchronous=NORMAL) | ${each_ms} ms | $(rate "$each_ms") |"
    echo
    echo "hearth peak RSS: $((peak / 1024)) MiB"
    echo
    echo "$SSE_CLIENTS idle realtime subscribers: hearth RSS $((rss_before / 1024)) MiB -> $((rss_sse / 1024)) MiB" \
         "($(( (rss_sse - rss_before) * 1024 / SSE_CLIENTS )) bytes each)"
} | tee "$OUT"
