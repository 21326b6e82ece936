#!/usr/bin/env bash
# Streaming backup benchmark: hearth's --backup-to beside Litestream, both
# sending to the same s3rver on loopback (bench/s3-counting.cjs, which counts
# each bucket's requests and bytes), in one run:
#  (a) RECORDS creates (bench/data.sh's wrk load) with backup off, with
#      --change-log, and with --backup-to; ROUNDS rounds, order rotating, median;
#  (b) RPO after kill -9: a paced writer (RATE/s), the server (and Litestream)
#      killed at a random moment, a restore from S3 counted against the
#      acknowledged writes; RPO_TRIALS trials each;
#  (c) PACED_SECONDS at RATE writes/s, hearth and Litestream at the same time:
#      PUT (and all) requests per hour, bytes uploaded per write;
#  (d) restore time of a set of about RESTORE_MB MiB (one site: deploy blobs in
#      hearth.db + RESTORE_RECORDS records in the app database).
# Litestream replicates hearth's own databases (hearth.db, apps/SITE.db) while
# that hearth runs with the backup off: the same files under the same load.
#
# Env knobs:
#   PHASES="creates rpo paced restore"   RECORDS=100000  ROUNDS=3  CONNS=64  WORKERS=2
#   RATE=100  PACED_SECONDS=300  RPO_TRIALS=5  RESTORE_MB=1024  RESTORE_RECORDS=200000
#   S3_PORT=18390  HEARTH_PORT=18391 (and +1, +2)  HEARTH_BIN=build/release/hearth
#   OUT=bench/last-backup.md  KEEP_TMP=1
set -u -o pipefail
BENCH_TAG=backup
source "$(dirname "$0")/lib.sh"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
PHASES=${PHASES:-creates rpo paced restore}
RECORDS=${RECORDS:-100000}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
WORKERS=${WORKERS:-2}
RATE=${RATE:-100}
PACED_SECONDS=${PACED_SECONDS:-300}
RPO_TRIALS=${RPO_TRIALS:-5}
RESTORE_MB=${RESTORE_MB:-1024}
RESTORE_RECORDS=${RESTORE_RECORDS:-200000}
S3_PORT=${S3_PORT:-18390}
HEARTH_PORT=${HEARTH_PORT:-18391}
HEARTH_BIN=${HEARTH_BIN:-$REPO_DIR/build/release/hearth}
OUT=${OUT:-$SCRIPT_DIR/last-backup.md}
KEEP_TMP=${KEEP_TMP:-0}
WRK_BIN=${WRK_BIN:-$(command -v wrk || echo /usr/bin/wrk)}
for v in RECORDS ROUNDS CONNS RATE PACED_SECONDS RPO_TRIALS RESTORE_MB RESTORE_RECORDS; do
    require_posint "$v"
done
[[ -x $HEARTH_BIN ]] || die "hearth binary not found at $HEARTH_BIN (build it or set HEARTH_BIN)"
[[ -x $WRK_BIN ]] || die "wrk not found (set WRK_BIN)"
need_tools curl sqlite3 awk node npm sha1sum
for p in "$S3_PORT" "$HEARTH_PORT" "$((HEARTH_PORT + 1))" "$((HEARTH_PORT + 2))"; do port_busy "$p" && die "port $p is in use"; done
LITESTREAM=$(litestream_bin) || die "could not get Litestream (npm pack @flydotio/litestream-linux-x64@$LITESTREAM_NPM_VERSION)"
LS_VERSION=$("$LITESTREAM" version)

make_tmp hearth-backup
mkdir -p "$TMP/logs" "$TMP/s3"
now_ms() { date +%s%3N; }
SITE=bench.localhost
S3=http://127.0.0.1:$S3_PORT
export HEARTH_BACKUP_KEY_ID=S3RVER HEARTH_BACKUP_SECRET=S3RVER   # s3rver's built-in account
REPORT=$TMP/report.md
: >"$REPORT"
say() { echo "$*" >>"$REPORT"; }

# ---------------------------------------------------------------- processes
node --openssl-legacy-provider "$SCRIPT_DIR/s3-counting.cjs" "$TMP/s3" "$S3_PORT" hearth hearth1s litestream \
    >"$TMP/logs/s3.log" 2>&1 &
PID[s3]=$!
for i in $(seq 100); do grep -q ready "$TMP/logs/s3.log" && break; sleep 0.1; done
grep -q ready "$TMP/logs/s3.log" || die "s3rver did not start: $(tail -3 "$TMP/logs/s3.log")"
s3_stat() {  # s3_stat BUCKET FIELD -> number (0 if none)
    curl -s "$S3/__stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
        const b=JSON.parse(s)[process.argv[1]]||{};console.log(b[process.argv[2]]||0)})' "$1" "$2"
}
s3_all() { curl -s "$S3/__stats"; }
s3_reset() { curl -s -X POST "$S3/__reset" >/dev/null; }

# start_hearth KEY PORT DATA [serve flags...]: PID[KEY], waits for health
start_hearth() {
    local key=$1 port=$2 data=$3 i
    shift 3
    "$HEARTH_BIN" serve --http "127.0.0.1:$port" --data "$data" --workers "$WORKERS" --access-log off \
        --log-level warn "$@" >>"$TMP/logs/$key.log" 2>&1 &
    PID[$key]=$!
    for i in $(seq 100); do curl -sf "http://127.0.0.1:$port/_hearth/health" >/dev/null && return 0; sleep 0.1; done
    die "hearth ($key) did not start: $(tail -3 "$TMP/logs/$key.log")"
}
# stop KEY [SIGNAL]: signals PID[KEY] and waits for it (bounded by the signal: TERM, then KILL)
stop() {
    local key=$1 sig=${2:-TERM} p=${PID[$1]:-} i
    [[ -n $p ]] || return 0
    kill -"$sig" "$p" 2>/dev/null
    for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    unset "PID[$key]"
}
backup_flags() { echo "--backup-to s3://${2:-hearth}/$1 --backup-endpoint $S3"; }  # PREFIX [BUCKET]
# setup_site PORT DATA: the site and its "posts" collection (the app database appears)
setup_site() {
    local b=http://127.0.0.1:$1 token
    token=$(cat "$2/admin.token")
    curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d "{\"name\":\"$SITE\",\"default\":true}" "$b/_hearth/api/sites" >/dev/null || die "site setup failed"
    curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d '{"name":"posts","fields":[{"name":"title","type":"text"},{"name":"n","type":"number"}],"listRule":"","viewRule":"","createRule":""}' \
        "$b/_hearth/api/sites/$SITE/collections" >/dev/null || die "collection setup failed"
}
metric() {  # metric PORT DATA NAME -> value
    curl -s -H "Authorization: Bearer $(cat "$2/admin.token")" "http://127.0.0.1:$1/_hearth/metrics" |
        awk -v m="$3" '$1 == m { print $2; exit }'
}
# wait_backup PORT DATA SECONDS: until a snapshot is up and nothing is left to upload
wait_backup() {
    local i lag snaps
    for i in $(seq $(( $3 * 10 ))); do
        snaps=$(metric "$1" "$2" hearth_backup_snapshots_total)
        lag=$(metric "$1" "$2" hearth_backup_lag_entries)
        [[ ${snaps:-0} != 0 && ${lag:-1} == 0 ]] && return 0
        sleep 0.1
    done
    return 1
}
# litestream_conf FILE NAME DB...: replicate each DB to s3://litestream/NAME/<db file name>
litestream_conf() {
    local f=$1 name=$2 db
    shift 2
    echo "dbs:" >"$f"
    for db in "$@"; do
        cat >>"$f" <<EOF
  - path: $db
    replicas:
      - type: s3
        bucket: litestream
        path: $name/$(basename "$db")
        endpoint: $S3
        region: us-east-1
        force-path-style: true
        access-key-id: S3RVER
        secret-access-key: S3RVER
EOF
    done
}
# start_litestream KEY CONF: PID[KEY]; waits (30 s) until every db's first snapshot is written
start_litestream() {
    local i want
    want=$(grep -c 'path: /' "$2")
    "$LITESTREAM" replicate -config "$2" >>"$TMP/logs/$1.log" 2>&1 &
    PID[$1]=$!
    for i in $(seq 300); do
        (( $(grep -c 'snapshot written' "$TMP/logs/$1.log") >= want )) && return 0
        kill -0 "${PID[$1]}" 2>/dev/null || break
        sleep 0.1
    done
    die "litestream did not write its first snapshots: $(tail -3 "$TMP/logs/$1.log")"
}
# writer KEY PORT SECONDS: the paced writer, acks in $TMP/KEY.acks
writer() {
    node "$SCRIPT_DIR/paced-writer.mjs" "http://127.0.0.1:$2/api/collections/posts/records" "$RATE" "$3" \
        >"$TMP/$1.acks" 2>"$TMP/logs/$1.log" &
    PID[$1]=$!
}
wait_writer() {  # wait_writer KEY: until the writer ends by itself
    wait "${PID[$1]}" 2>/dev/null
    unset "PID[$1]"
}
count_posts() { sqlite3 "$1" "SELECT count(*) || ' ' || coalesce(max(n), 0) FROM posts" 2>/dev/null || echo "0 0"; }
rows() { count_posts "$1" | cut -d' ' -f1; }

# ---------------------------------------------------------------- (a) creates
cat >"$TMP/create.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"title":"hello world","n":42}'
wrk.headers["Content-Type"] = "application/json"
LUA
# creates MODE ROUND: CREATE_MS for RECORDS creates (wrk until that many exist, as bench/data.sh),
# CATCHUP (backup mode) the ms the upload still needed after the last create
creates() {
    local mode=$1 data=$TMP/creates-$1-$2 b=http://127.0.0.1:$HEARTH_PORT flags=() t0 n ms
    case $mode in
        log) flags=(--change-log) ;;
        backup) read -ra flags <<<"$(backup_flags "creates-$2")" ;;
    esac
    start_hearth creates "$HEARTH_PORT" "$data" "${flags[@]}"
    setup_site "$HEARTH_PORT" "$data"
    t0=$(now_ms)
    "$WRK_BIN" -t1 -c"$CONNS" -d300s -s "$TMP/create.lua" "$b/api/collections/posts/records" \
        >"$TMP/logs/create-$mode-$2.txt" 2>&1 &
    WRK_PID=$!
    while :; do
        n=$(curl -s "$b/api/collections/posts/records?perPage=1" | sed -n 's/.*"totalItems":\([0-9]*\).*/\1/p')
        (( ${n:-0} >= RECORDS )) && break
        kill -0 "$WRK_PID" 2>/dev/null || die "wrk ended early: $(tail -3 "$TMP/logs/create-$mode-$2.txt")"
        sleep 0.2
    done
    ms=$(( $(now_ms) - t0 ))
    kill "$WRK_PID" 2>/dev/null; wait "$WRK_PID" 2>/dev/null; WRK_PID=""
    CATCHUP=""
    if [[ $mode == backup ]]; then   # how long the upload needs after the last create
        t0=$(now_ms)
        wait_backup "$HEARTH_PORT" "$data" 60 && CATCHUP=$(( $(now_ms) - t0 ))
    fi
    stop creates
    rm -rf "$data"
    CREATE_MS=$ms
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

phase_creates() {
    local modes=(off log backup) r i m ms
    declare -A all=()
    local catchups=()
    for r in $(seq "$ROUNDS"); do
        for i in 0 1 2; do
            m=${modes[$(( (i + r - 1) % 3 ))]}
            echo "backup: (a) round $r: $RECORDS creates, $m" >&2
            creates "$m" "$r"
            [[ $m == backup ]] && catchups+=("${CATCHUP:-n/a}")
            all[$m]+="$CREATE_MS "
        done
    done
    local off
    off=$(tr ' ' '\n' <<<"${all[off]}" | grep . | median)
    say "## (a) $RECORDS creates over HTTP: backup off, change log on, backup on"
    say
    say "wrk \`-t1 -c$CONNS\` POST /api/collections/posts/records until $RECORDS exist (bench/data.sh's load);"
    say "hearth \`--workers $WORKERS\`; a fresh data dir per run; $ROUNDS rounds, order rotating; median."
    say
    say "| mode | runs (ms) | median ms | creates/s | vs off |"
    say "| --- | --- | ---: | ---: | ---: |"
    for m in off log backup; do
        local med
        med=$(tr ' ' '\n' <<<"${all[$m]}" | grep . | median)
        say "| $m | ${all[$m]} | $med | $(awk -v n="$RECORDS" -v ms="$med" 'BEGIN{printf "%.0f", n*1000/ms}') | $(awk -v a="$med" -v b="$off" 'BEGIN{printf "%+.1f %%", (a/b-1)*100}') |"
    done
    say
    say "off = \`serve\`; log = \`serve --change-log\`; backup = \`serve $(backup_flags creates-N)\` (s3rver on loopback)."
    say "Time to finish uploading after the last create (backup runs): ${catchups[*]:-n/a} ms"
    say
}

# ---------------------------------------------------------------- (b) RPO
# rpo_result ACKS KILL_MS RESTORED_DB -> "lost_writes lost_ms restored acked"
rpo_result() {
    local got max
    read -r got max <<<"$(count_posts "$3")"
    awk -v max="$max" -v kill="$2" -v got="$got" '
        { acked++; if ($1 > max) { lost++; if (first == "" || $2 < first) first = $2 } }
        END { printf "%d %d %d %d\n", lost, (lost ? kill - first : 0), got, acked }' "$1"
}
phase_rpo() {
    local t data kill_ms res rows=() wait_s
    for t in $(seq "$RPO_TRIALS"); do
        wait_s=$(( 3 + RANDOM % 5 ))
        # hearth: backup on; killed with its disk "lost" (restore from S3 only)
        echo "backup: (b) RPO trial $t: hearth, kill -9 after ${wait_s}s of writes" >&2
        data=$TMP/rpo-h$t
        start_hearth rpo "$HEARTH_PORT" "$data" $(backup_flags "rpo-$t")
        setup_site "$HEARTH_PORT" "$data"
        wait_backup "$HEARTH_PORT" "$data" 30 || die "hearth's first snapshot did not go up"
        writer rpo-w "$HEARTH_PORT" 60
        sleep "$wait_s"
        kill_ms=$(now_ms)
        stop rpo KILL
        stop rpo-w TERM
        timeout 120 "$HEARTH_BIN" restore --from "s3://hearth/rpo-$t" --backup-endpoint "$S3" \
            --data "$TMP/rpo-h$t-restored" >"$TMP/logs/rpo-restore-$t.log" 2>&1 ||
            die "hearth restore failed: $(tail -3 "$TMP/logs/rpo-restore-$t.log")"
        res=$(rpo_result "$TMP/rpo-w.acks" "$kill_ms" "$TMP/rpo-h$t-restored/apps/$SITE.db")
        rows+=("hearth $t $res")
        # Litestream: hearth with backup off, Litestream on its app database; both killed at once
        echo "backup: (b) RPO trial $t: Litestream, kill -9 after ${wait_s}s of writes" >&2
        data=$TMP/rpo-l$t
        start_hearth rpo "$HEARTH_PORT" "$data"
        setup_site "$HEARTH_PORT" "$data"
        litestream_conf "$TMP/rpo-l$t.yml" "rpo-$t" "$data/apps/$SITE.db"
        start_litestream rpo-ls "$TMP/rpo-l$t.yml"
        writer rpo-w "$HEARTH_PORT" 60
        sleep "$wait_s"
        kill_ms=$(now_ms)
        kill -KILL "${PID[rpo]}" "${PID[rpo-ls]}" 2>/dev/null
        stop rpo KILL; stop rpo-ls KILL
        stop rpo-w TERM
        timeout 120 "$LITESTREAM" restore -config "$TMP/rpo-l$t.yml" -o "$TMP/rpo-l$t-restored.db" \
            "$data/apps/$SITE.db" >"$TMP/logs/rpo-ls-restore-$t.log" 2>&1 ||
            die "litestream restore failed: $(tail -3 "$TMP/logs/rpo-ls-restore-$t.log")"
        res=$(rpo_result "$TMP/rpo-w.acks" "$kill_ms" "$TMP/rpo-l$t-restored.db")
        rows+=("litestream $t $res")
        rm -rf "$TMP/rpo-h$t" "$TMP/rpo-l$t"
    done
    say "## (b) RPO after kill -9 ($RATE writes/s, $RPO_TRIALS trials each)"
    say
    say "The paced writer runs 3-7 s (random, the same for both in a trial), then the server is killed with"
    say "SIGKILL (for Litestream: hearth and Litestream at the same instant) and its disk counts as lost:"
    say "a restore from S3 is compared with the acknowledged creates. lost ms = kill time minus the"
    say "acknowledgement time of the oldest lost write. hearth \`--backup-upload-every\` default (500ms);"
    say "Litestream \`sync-interval\` default (1s)."
    say
    say "| who | trial | lost acked writes | lost ms | restored rows | acked |"
    say "| --- | ---: | ---: | ---: | ---: | ---: |"
    local r
    for r in "${rows[@]}"; do say "| ${r// / | } |"; done
    local who
    for who in hearth litestream; do
        say
        say "$who: max lost $(printf '%s\n' "${rows[@]}" | awk -v w="$who" '$1 == w && $3 > m { m = $3 } END { print m + 0 }') writes," \
            "max $(printf '%s\n' "${rows[@]}" | awk -v w="$who" '$1 == w && $4 > m { m = $4 } END { print m + 0 }') ms"
    done
    say
}

# ---------------------------------------------------------------- (c) paced
phase_paced() {
    local dh=$TMP/paced-h dl=$TMP/paced-l d1=$TMP/paced-h1s
    echo "backup: (c) ${PACED_SECONDS}s at $RATE writes/s, hearth and Litestream side by side" >&2
    start_hearth paced-h "$HEARTH_PORT" "$dh" $(backup_flags paced)
    start_hearth paced-l "$((HEARTH_PORT + 1))" "$dl"
    setup_site "$HEARTH_PORT" "$dh"
    # like for like on the upload interval: a third hearth uploading every 1 s, as Litestream syncs
    start_hearth paced-h1s "$((HEARTH_PORT + 2))" "$d1" $(backup_flags paced hearth1s) --backup-upload-every 1s
    setup_site "$((HEARTH_PORT + 1))" "$dl"
    setup_site "$((HEARTH_PORT + 2))" "$d1"
    wait_backup "$HEARTH_PORT" "$dh" 30 || die "hearth's first snapshot did not go up"
    wait_backup "$((HEARTH_PORT + 2))" "$d1" 30 || die "hearth's (1 s) first snapshot did not go up"
    litestream_conf "$TMP/paced.yml" paced "$dl/hearth.db" "$dl/apps/$SITE.db"
    start_litestream paced-ls "$TMP/paced.yml"
    sleep 2   # both past their first uploads
    s3_reset
    local t0=$(now_ms)
    writer paced-hw "$HEARTH_PORT" "$PACED_SECONDS"
    writer paced-lw "$((HEARTH_PORT + 1))" "$PACED_SECONDS"
    writer paced-h1w "$((HEARTH_PORT + 2))" "$PACED_SECONDS"
    wait_writer paced-hw
    wait_writer paced-lw
    wait_writer paced-h1w
    sleep 1.5   # the last writes' upload (hearth every 0.5 s, Litestream every 1 s)
    local secs stats
    secs=$(awk -v ms="$(( $(now_ms) - t0 ))" 'BEGIN{printf "%.1f", ms/1000}')
    stats=$(s3_all)
    echo "$stats" >"$TMP/logs/paced-stats.json"
    declare -A acked=([hearth]=$(wc -l <"$TMP/paced-hw.acks") [hearth1s]=$(wc -l <"$TMP/paced-h1w.acks")
                      [litestream]=$(wc -l <"$TMP/paced-lw.acks"))
    say "## (c) $PACED_SECONDS s at $RATE writes/s: requests and bytes sent to S3"
    say
    say "All at the same time, each its own hearth (\`--workers $WORKERS\`) and paced writer; counted by"
    say "the front of s3rver per bucket over ${secs} s (from the writers' start to 1.5 s after their end;"
    say "the first snapshots before that are not counted). Litestream replicates hearth.db and the app"
    say "database; hearth's backup covers the same two. hearth = \`--backup-upload-every\` default (500ms);"
    say "hearth1s = \`--backup-upload-every 1s\` (Litestream's default \`sync-interval\`)."
    say
    say "| who | acked writes | PUT | PUT/hour | all requests/hour | requests by method | bytes up | bytes/write |"
    say "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |"
    local who
    for who in hearth hearth1s litestream; do
        say "$(node -e '
            const [s, who, acks, secs] = [JSON.parse(process.argv[1]), process.argv[2], +process.argv[3], +process.argv[4]];
            const b = s[who] || {}; const put = b.PUT || 0;
            const all = Object.entries(b).filter(([k]) => k !== "put_bytes");
            const total = all.reduce((a, [, v]) => a + v, 0);
            const hour = (n) => Math.round(n * 3600 / secs);
            console.log(`| ${who} | ${acks} | ${put} | ${hour(put)} | ${hour(total)} | ${all.map(([k, v]) => `${k} ${v}`).join(", ")} | ${b.put_bytes || 0} | ${acks ? Math.round((b.put_bytes || 0) / acks) : "n/a"} |`);
        ' "$stats" "$who" "${acked[$who]}" "$secs")"
    done
    say
    say "Litestream generations started: $(grep -c 'new generation' "$TMP/logs/paced-ls.log") (one per database at"
    say "its start; more would mean it lost track of hearth's WAL, i.e. fought hearth's checkpoints)."
    say
    stop paced-ls; stop paced-h; stop paced-l; stop paced-h1s
    rm -rf "$dh" "$dl" "$d1"
}

# ---------------------------------------------------------------- (d) restore
phase_restore() {
    local data=$TMP/restore-src b=http://127.0.0.1:$HEARTH_PORT files i
    echo "backup: (d) building a ${RESTORE_MB} MiB set (deploy blobs + $RESTORE_RECORDS records)" >&2
    start_hearth restore "$HEARTH_PORT" "$data" $(backup_flags restore)
    setup_site "$HEARTH_PORT" "$data"
    wait_backup "$HEARTH_PORT" "$data" 30 || die "hearth's first snapshot did not go up"
    litestream_conf "$TMP/restore.yml" restore "$data/hearth.db" "$data/apps/$SITE.db"
    start_litestream restore-ls "$TMP/restore.yml"
    # the same data under both: deploy blobs (1 MiB random files) and records
    mkdir -p "$TMP/site"
    for i in $(seq "$RESTORE_MB"); do head -c 1048576 /dev/urandom >"$TMP/site/f$i.bin"; done
    timeout 600 "$HEARTH_BIN" deploy "$TMP/site" --site "$SITE" --server "$b" --data "$data" \
        >"$TMP/logs/deploy.log" 2>&1 || die "deploy failed: $(tail -3 "$TMP/logs/deploy.log")"
    rm -rf "$TMP/site"
    "$WRK_BIN" -t1 -c"$CONNS" -d600s -s "$TMP/create.lua" "$b/api/collections/posts/records" \
        >"$TMP/logs/restore-creates.txt" 2>&1 &
    WRK_PID=$!
    while :; do
        i=$(curl -s "$b/api/collections/posts/records?perPage=1" | sed -n 's/.*"totalItems":\([0-9]*\).*/\1/p')
        (( ${i:-0} >= RESTORE_RECORDS )) && break
        kill -0 "$WRK_PID" 2>/dev/null || die "wrk ended early"
        sleep 0.2
    done
    kill "$WRK_PID" 2>/dev/null; wait "$WRK_PID" 2>/dev/null; WRK_PID=""
    wait_backup "$HEARTH_PORT" "$data" 600 || die "hearth's backup did not catch up in 600 s"
    # hearth stops first, so the source is final (creates wrk left in flight have landed)
    stop restore
    local src_rows src_pages
    src_rows=$(rows "$data/apps/$SITE.db")
    src_pages=$(sqlite3 "$data/hearth.db" "PRAGMA page_count")
    src_size=$(du -sm "$data/hearth.db" "$data/apps/$SITE.db" | awk '{ s += $1 } END { print s }')
    # Litestream has no lag figure to poll: it has caught up when a restore of its replicas holds
    # every row of the app database and every page of hearth.db (a check, not timed; bounded).
    # (A quiet bucket is not enough: in a 1 GB run it was quiet while still behind.)
    local ok=0 got
    for i in $(seq 60); do
        rm -rf "$TMP/chk"; mkdir -p "$TMP/chk"
        timeout 600 "$LITESTREAM" restore -config "$TMP/restore.yml" -o "$TMP/chk/app.db" "$data/apps/$SITE.db" \
            >>"$TMP/logs/restore-check.log" 2>&1
        timeout 600 "$LITESTREAM" restore -config "$TMP/restore.yml" -o "$TMP/chk/hearth.db" "$data/hearth.db" \
            >>"$TMP/logs/restore-check.log" 2>&1
        got="$(rows "$TMP/chk/app.db") $(sqlite3 "$TMP/chk/hearth.db" "PRAGMA page_count" 2>/dev/null)"
        echo "check $i: rows, pages: $got; source: $src_rows $src_pages" >>"$TMP/logs/restore-check.log"
        [[ $got == "$src_rows $src_pages" ]] && { ok=1; break; }
        # A replica that restores to a damaged database will not get better by waiting (seen at
        # 1 GiB: Litestream losing track of hearth's WAL resets); report it instead of a time.
        if ! sqlite3 "$TMP/chk/app.db" "PRAGMA quick_check" 2>/dev/null | grep -qx ok; then
            note "Litestream's replica of the app database restores to a damaged database (PRAGMA quick_check fails): no Litestream restore time"
            ok=2; break
        fi
        sleep 5
    done
    rm -rf "$TMP/chk"
    (( ok )) || die "Litestream did not catch up in 60 checks (its restores lack rows or pages)"
    stop restore-ls
    local t0 h_ms l_ms h_rows l_rows h_size l_size
    echo "backup: (d) restoring with hearth" >&2
    sync; t0=$(now_ms)
    # each output line stamped with the ms since the start: where the time goes
    timeout 1200 "$HEARTH_BIN" restore --from s3://hearth/restore --backup-endpoint "$S3" --data "$TMP/r-h" 2>&1 |
        while IFS= read -r l; do echo "$(( $(now_ms) - t0 )) ms: $l"; done >"$TMP/logs/restore-h.log" ||
        die "hearth restore failed: $(tail -3 "$TMP/logs/restore-h.log")"
    h_ms=$(( $(now_ms) - t0 ))
    h_rows=$(rows "$TMP/r-h/apps/$SITE.db")
    h_size=$(du -sm "$TMP/r-h/hearth.db" "$TMP/r-h/apps/$SITE.db" | awk '{ s += $1 } END { print s }')
    rm -rf "$TMP/r-h"
    l_ms=n/a l_rows="replica damaged" l_size=n/a
    if (( ok == 1 )); then
        echo "backup: (d) restoring with Litestream" >&2
        mkdir -p "$TMP/r-l/apps"
        sync; t0=$(now_ms)
        timeout 1200 "$LITESTREAM" restore -config "$TMP/restore.yml" -o "$TMP/r-l/hearth.db" "$data/hearth.db" \
            >"$TMP/logs/restore-l.log" 2>&1 &&
        timeout 1200 "$LITESTREAM" restore -config "$TMP/restore.yml" -o "$TMP/r-l/apps/$SITE.db" "$data/apps/$SITE.db" \
            >>"$TMP/logs/restore-l.log" 2>&1 || die "litestream restore failed: $(tail -3 "$TMP/logs/restore-l.log")"
        l_ms=$(( $(now_ms) - t0 ))
        l_rows=$(rows "$TMP/r-l/apps/$SITE.db")
        l_size=$(du -sm "$TMP/r-l/hearth.db" "$TMP/r-l/apps/$SITE.db" | awk '{ s += $1 } END { print s }')
        rm -rf "$TMP/r-l"
    fi
    say "## (d) Restore time: $RESTORE_MB × 1 MiB deploy files + $RESTORE_RECORDS records"
    say
    say "One hearth with \`--backup-to\` on, and Litestream replicating the same hearth.db and app database"
    say "(same files, same writes); both caught up, both stopped, then each restores from s3rver into"
    say "a new folder (hearth: \`hearth restore --from s3://hearth/restore\`, the whole data dir; Litestream:"
    say "\`litestream restore -o\` of each database, one after the other). Source: ${src_size} MiB, rows $src_rows."
    say
    say "| who | restore ms | MiB restored (hearth.db + app db) | rows |"
    say "| --- | ---: | ---: | --- |"
    say "| hearth | $h_ms | $h_size | $h_rows |"
    say "| litestream | $l_ms | $l_size | $l_rows |"
    say
    say "hearth restore's output, each line stamped with the ms since it started:"
    say
    say '```'
    cat "$TMP/logs/restore-h.log" >>"$REPORT"
    say '```'
    say
    say "S3 totals after the load (all phases so far since the last reset): \`$(s3_all)\`"
    say
    rm -rf "$data"
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for ph in $PHASES; do
    case $ph in
        creates) phase_creates ;;
        rpo) phase_rpo ;;
        paced) phase_paced ;;
        restore) phase_restore ;;
        *) die "unknown phase $ph" ;;
    esac
done
{
    echo "# Streaming backup: hearth vs Litestream ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "- hearth $("$HEARTH_BIN" version 2>/dev/null | head -1) ($(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null));" \
         "Litestream $LS_VERSION (npm @flydotio/litestream-linux-x64@$LITESTREAM_NPM_VERSION); s3rver 3.7.1 on 127.0.0.1"
    echo "- $(nproc) cores, not pinned; load average $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
    echo "- \`PHASES=\"$PHASES\" RECORDS=$RECORDS ROUNDS=$ROUNDS RATE=$RATE PACED_SECONDS=$PACED_SECONDS RPO_TRIALS=$RPO_TRIALS RESTORE_MB=$RESTORE_MB RESTORE_RECORDS=$RESTORE_RECORDS\`"
    echo
    cat "$REPORT"
    print_notes 2>/dev/null
} | tee "$OUT"
