#!/usr/bin/env bash
# Sites benchmark: (1) hearth serving a deployed site out of its SQLite
# database vs nginx serving the same files from disk, measured the same way as
# bench/run.sh; (2) how long `hearth deploy` takes for many small files, first
# to a fresh site and then again after changing one file.  See bench/README.md.
#
# Env knobs:
#   DURATION=8        seconds per wrk run
#   ROUNDS=2          runs per (scenario, server); the median is reported
#   FILES=10000       files in the deploy test (spread over 100 folders)
#   DEPLOY_EXT=txt    their extension; text types (txt, html, css, js, ...) get
#                     br/zstd/gzip variants made at deploy, "bin" does not
#   CONNS=64          wrk connections
#   SCENARIOS="1k 64k"
#   HEARTH_BIN=build/release/hearth
#   HEARTH_PORT=18084 NGINX_PORT=18085 DEPLOY_PORT=18086
#   SERVER_CPU=0 WRK_CPU=1
#   WARMUP=1          seconds of unmeasured load per server before measuring (0 = none)
#   DEPLOY_TIMEOUT=180  seconds each `hearth deploy` may take before it is killed
#   OUT=bench/last-sites.md
#   KEEP_TMP=1        keep the temp dir (configs, logs, raw wrk and deploy output)
set -u -o pipefail
BENCH_TAG=sites
source "$(dirname "$0")/lib.sh"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)

DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-2}
FILES=${FILES:-10000}
DEPLOY_EXT=${DEPLOY_EXT:-txt}
CONNS=${CONNS:-64}
SCENARIOS=${SCENARIOS:-"1k 64k"}
HEARTH_BIN=${HEARTH_BIN:-$REPO_DIR/build/release/hearth}
HEARTH_PORT=${HEARTH_PORT:-18084}
NGINX_PORT=${NGINX_PORT:-18085}
DEPLOY_PORT=${DEPLOY_PORT:-18086}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
WARMUP=${WARMUP:-1}
DEPLOY_TIMEOUT=${DEPLOY_TIMEOUT:-180}
OUT=${OUT:-$SCRIPT_DIR/last-sites.md}
KEEP_TMP=${KEEP_TMP:-0}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
WRK_BIN=${WRK_BIN:-$(command -v wrk || echo /usr/bin/wrk)}
SITE=bench.localhost

require_posint DURATION seconds
require_posint ROUNDS
require_posint FILES
require_posint CONNS
[[ $DEPLOY_EXT =~ ^[A-Za-z0-9]+$ ]] || die "DEPLOY_EXT must be letters and digits (no dot)"
require_posint DEPLOY_TIMEOUT seconds
[[ -x $HEARTH_BIN ]] || die "hearth binary not found at $HEARTH_BIN (build it or set HEARTH_BIN)"
[[ -x $NGINX_BIN ]] || die "nginx not found (set NGINX_BIN)"
[[ -x $WRK_BIN ]] || die "wrk not found (set WRK_BIN)"
need_tools taskset curl getconf timeout pgrep awk ss base64 cmp
detect_cpus
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)

# ---------------------------------------------------------------- cleanup
make_tmp hearth-sites   # lib.sh: stops what we start and removes $TMP on exit

mkdir -p "$TMP/www" "$TMP/logs" "$TMP/nginx" "$TMP/hearth-data" "$TMP/deploy-data" "$TMP/wrk" "$TMP/deploy"
WWW=$TMP/www

# ---------------------------------------------------------------- helpers
# (the measuring ones are in lib.sh, shared with bench/run.sh)

# stop_server NAME: SIGTERM, wait up to ~5 s, then SIGKILL
stop_server() {
    local s=$1 p=${PID[$1]:-} i
    [[ -n $p ]] || return 0
    local all=($(tree_pids "$p"))
    kill -TERM "$p" 2>/dev/null
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    for i in "${all[@]}"; do kill -KILL "$i" 2>/dev/null; done
    wait "$p" 2>/dev/null
    unset "PID[$s]"
}

# start_hearth NAME PORT DATA_DIR [taskset CPU]: start `hearth serve` with a
# --data dir (no --root), wait until it answers HTTP and has written
# admin.token. Bounded: ~10 s.
start_hearth() {
    local s=$1 port=$2 data=$3 cpu=${4:-} log=$TMP/logs/$1.out
    local -a pin=()
    [[ -n $cpu ]] && pin=(taskset -c "$cpu")
    if port_busy "$port"; then
        echo "sites: port $port already in use; cannot start $s" >&2
        return 1
    fi
    "${pin[@]}" "$HEARTH_BIN" serve --http "127.0.0.1:$port" --data "$data" \
        --workers 1 --access-log off >"$log" 2>&1 &
    PID[$s]=$!
    local i code=000
    for i in $(seq 100); do
        if ! kill -0 "${PID[$s]}" 2>/dev/null; then
            echo "sites: $s exited during startup: $(tail -n 5 "$log" | tr '\n' ' ')" >&2
            unset "PID[$s]"
            return 1
        fi
        if [[ -s $data/admin.token ]]; then
            code=$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' "http://127.0.0.1:$port/" 2>/dev/null)
            [[ $code != 000 ]] && return 0
        fi
        sleep 0.1
    done
    echo "sites: $s did not come up on port $port within 10 s" >&2
    stop_server "$s"
    return 1
}

# run_deploy TAG DIR PORT DATA_DIR SERVER_PID: runs `hearth deploy` (bounded
# by DEPLOY_TIMEOUT), sets D_RC D_WALL D_USER D_SYS D_SRV_CPU D_VERSION
# D_UPLOADED D_FILES D_SIZE D_LINE. Output kept in $TMP/deploy/TAG.{out,err}.
run_deploy() {
    local tag=$1 dir=$2 port=$3 data=$4 spid=$5
    local out=$TMP/deploy/$tag.out err=$TMP/deploy/$tag.err tf=$TMP/deploy/$tag.time
    local t0 t1
    t0=$(cpu_ticks "$spid")
    # the `time` keyword inside the subshell times the deploy client (wall, user, sys)
    ( TIMEFORMAT='%3R %3U %3S'
      time timeout -k 5 "$DEPLOY_TIMEOUT" "$HEARTH_BIN" deploy "$dir" --site "$SITE" \
          --server "http://127.0.0.1:$port" --data "$data" >"$out" 2>"$err" ) 2>"$tf" &
    DEPLOY_JOB=$!
    wait "$DEPLOY_JOB"
    D_RC=$?   # the subshell's status is that of `timeout ... hearth deploy` (124 = timed out)
    DEPLOY_JOB=""
    t1=$(cpu_ticks "$spid")
    D_WALL=""; D_USER=""; D_SYS=""
    read -r D_WALL D_USER D_SYS <"$tf" || true
    D_SRV_CPU=$(awk -v t="$(( t1 - t0 ))" -v h="$CLK_TCK" 'BEGIN{printf "%.2f", t/h}')
    D_VERSION=$(sed -n 's/^deployed .* version \([0-9][0-9]*\).*/\1/p' "$out" | head -n1)
    D_LINE=$(grep -m1 '^uploaded ' "$out")
    D_UPLOADED=$(sed -n 's/^uploaded \([0-9][0-9]*\) of \([0-9][0-9]*\) files.*/\1/p' "$out" | head -n1)
    D_FILES=$(sed -n 's/^uploaded \([0-9][0-9]*\) of \([0-9][0-9]*\) files.*/\2/p' "$out" | head -n1)
    D_SIZE=$(sed -n 's/^uploaded .* files (\(.*\))$/\1/p' "$out" | head -n1)
}

# ================================================================ part 1
# serving: hearth (site in SQLite) vs nginx (files on disk)

chmod 755 "$TMP" "$WWW"
declare -A FILE_SIZE=([1k]=1024 [64k]=65536)
declare -A SC_LABEL=([1k]="1 KiB" [64k]="64 KiB")
make_files 1k 64k
SC_LIST=()
for sc in $SCENARIOS; do
    [[ -n ${FILE_SIZE[$sc]:-} ]] || die "unknown scenario '$sc' (known: 1k 64k)"
    SC_LIST+=("$sc")
done
(( ${#SC_LIST[@]} )) || die "no scenarios to run"

# same nginx config as bench/run.sh (tcp_nopush on, open_file_cache)
write_nginx_conf on

for p in "$HEARTH_PORT" "$NGINX_PORT" "$DEPLOY_PORT"; do
    port_busy "$p" && die "port $p is already in use (set HEARTH_PORT / NGINX_PORT / DEPLOY_PORT)"
done

declare -A PORT=([hearth]=$HEARTH_PORT [nginx]=$NGINX_PORT)

# hearth, pinned, empty data dir; then deploy the two files as the site
start_hearth hearth "$HEARTH_PORT" "$TMP/hearth-data" "$SERVER_CPU" || die "hearth did not start"
run_deploy serve-site "$WWW" "$HEARTH_PORT" "$TMP/hearth-data" "${PID[hearth]}"
(( D_RC == 0 )) || die "hearth deploy of the serving files failed (rc $D_RC): $(tail -n 3 "$TMP/deploy/serve-site.err" | tr '\n' ' ')"
echo "sites: deployed $SITE for serving: ${D_LINE:-?}" >&2

start_nginx "$TMP/logs/nginx.out"

# wait (<= 10 s each) until both serve the 1 KiB file for Host: bench.localhost,
# then check every file comes back complete
for s in hearth nginx; do
    wait_200 "${PID[$s]}" "${PORT[$s]}" -H "Host: $SITE"
    case $? in
    2) die "$s exited during startup: $(tail -q -n 5 "$TMP/logs/$s.out" "$TMP/logs/nginx-error.log" 2>/dev/null | tr '\n' ' ')" ;;
    1) die "$s did not serve /1k.bin (Host: $SITE) within 10 s (last status '$HTTP_CODE')" ;;
    esac
    check_files "$s" "${PORT[$s]}" "${!FILE_SIZE[*]}" "$SITE"
done
RUNNING=(hearth nginx)

RESULTS=$TMP/results.tsv
: >"$RESULTS"

# run_wrk SERVER SCENARIO DURATION OUTFILE
run_wrk() {
    local s=$1 sc=$2 dur=$3 out=$4
    wrk_job "$dur" "$out" -H "Host: $SITE" "http://127.0.0.1:${PORT[$s]}/$sc.bin"
}

total_runs=$(( ${#SC_LIST[@]} * ROUNDS * ${#RUNNING[@]} ))
est=$(( total_runs * (DURATION + 1) + ${#RUNNING[@]} * WARMUP + 10 + FILES / 500 ))
echo "sites: part 1: hearth (site from SQLite) vs nginx (disk); scenarios: ${SC_LIST[*]}; ${ROUNDS} round(s) x ${DURATION}s, ${CONNS} conns" >&2
echo "sites: part 2: deploy of $FILES files; total roughly ${est}s plus deploy time" >&2

if (( WARMUP > 0 )); then
    for s in "${RUNNING[@]}"; do
        run_wrk "$s" "${SC_LIST[0]}" "$WARMUP" "$TMP/wrk/warmup-$s.txt" >/dev/null 2>&1 || true
    done
fi

measure_rounds 4 7

declare -A RSS=()
for s in "${RUNNING[@]}"; do
    kill -0 "${PID[$s]}" 2>/dev/null && RSS[$s]=$(peak_rss_kib "${PID[$s]}")
done
SERVE_DB_KIB=$(du -sk "$TMP/hearth-data" | awk '{print $1}')

# both serving servers are done: stop them before the deploy test
stop_server hearth
stop_server nginx

AGG=$TMP/agg.tsv
aggregate

SERVE_ROWS=$TMP/serve-rows.tsv
{
    printf 'File\tServer\treq/s\treq/CPU-s\tserver CPU\tp99 ms\terrors\thearth/nginx req/s\thearth/nginx req/CPU-s\thearth/nginx p99\n'
    for sc in "${SC_LIST[@]}"; do
        for s in "${RUNNING[@]}"; do
            rps=$(get "$sc" "$s" 3); rpc=$(get "$sc" "$s" 4); util=$(get "$sc" "$s" 5)
            p99=$(get "$sc" "$s" 6); err=$(get "$sc" "$s" 7)
            label=${SC_LABEL[$sc]}
            [[ $s == hearth ]] && label+=" (site in SQLite)" || label+=" (disk)"
            line="$label\t$s\t$(fmt_int "$rps")\t$(fmt_int "$rpc")\t${util:+$util%}\t$(fmt_ms "$p99")\t${err:-n/a}"
            if [[ $s == hearth ]]; then
                np99=$(get "$sc" nginx 6)
                [[ $p99 == nan ]] && p99=""; [[ $np99 == nan ]] && np99=""
                line+="\t$(ratio "$rps" "$(get "$sc" nginx 3)")\t$(ratio "$rpc" "$(get "$sc" nginx 4)")\t$(ratio "$p99" "$np99")"
            else
                line+="\t\t\t"
            fi
            printf '%b\n' "$line"
        done
    done
} >"$SERVE_ROWS"

# ================================================================ part 2
# deploy timing: FILES small text files in 100 folders, fresh data dir

SRC=$TMP/deploy-site
mkdir -p "$SRC"
g0=$(date +%s.%N)
# one base64 stream, cut into files of 7..26 lines of 77 bytes (539..2002 B)
(
    cd "$SRC" || exit 1
    mkdir -p $(seq -f 'd%02g' 0 99) || exit 1
    # ~19 lines per file on average in the stream, 16.5 used; awk reads to the end (no SIGPIPE)
    head -c $(( FILES * 1100 + 4096 )) /dev/urandom | base64 -w 76 | awk -v files="$FILES" -v ext="$DEPLOY_EXT" '
        BEGIN { srand(42); i = 0; left = 0 }
        i >= files { next }
        left == 0 { f = sprintf("d%02d/f%05d.%s", i % 100, i, ext); left = 7 + int(rand() * 20) }
        { print > f; if (--left == 0) { close(f); i++ } }
        END { if (left > 0) close(f) }'
) || die "generating the deploy files failed"
got_files=$(find "$SRC" -type f | wc -l)
src_kib=$(du -sk --apparent-size "$SRC" | awk '{print $1}')
src_bytes=$(find "$SRC" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
echo "sites: generated $got_files files, $src_bytes bytes, in $(awk -v a="$g0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}') s" >&2
(( got_files == FILES )) || note "generated $got_files files instead of $FILES"

# fresh hearth, not pinned, fresh data dir
start_hearth hearth-deploy "$DEPLOY_PORT" "$TMP/deploy-data" || die "hearth (deploy test) did not start"
DPID=${PID[hearth-deploy]}

DEPLOY_ROWS=$TMP/deploy-rows.tsv
printf 'Deploy\tfiles\tuploaded\twall s\tfiles/s\tdeploy CLI CPU s\tserver CPU s\thearth deploy said\n' >"$DEPLOY_ROWS"
add_deploy_row() {  # LABEL
    local fps
    fps=$(awk -v n="${D_FILES:-$got_files}" -v w="${D_WALL:-}" 'BEGIN{ if (w == "" || w + 0 == 0) print "n/a"; else printf "%.0f", n / w }')
    local cli=n/a
    [[ -n ${D_USER:-} ]] && cli=$(awk -v u="$D_USER" -v s="$D_SYS" 'BEGIN{printf "%.2f", u + s}')
    local said=${D_LINE:-}
    [[ -n $D_VERSION ]] && said="version $D_VERSION; $said"
    (( D_RC != 0 )) && said="FAILED rc $D_RC$( (( D_RC == 124 )) && echo " (timed out after ${DEPLOY_TIMEOUT}s)"): $(tail -n 2 "$TMP/deploy/$2.err" | tr '\n\t' '  ')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "${D_FILES:-n/a}" "${D_UPLOADED:-n/a}" \
        "${D_WALL:-n/a}" "$fps" "$cli" "$D_SRV_CPU" "$said" >>"$DEPLOY_ROWS"
}

echo "sites: first deploy of $got_files files ..." >&2
run_deploy first "$SRC" "$DEPLOY_PORT" "$TMP/deploy-data" "$DPID"
add_deploy_row "first (fresh site)" first
echo "sites: first deploy: rc $D_RC, ${D_WALL:-?} s wall; ${D_LINE:-no 'uploaded' line}" >&2
FIRST_OK=0
if (( D_RC == 0 )); then
    FIRST_OK=1
    [[ ${D_UPLOADED:-} == "$got_files" && ${D_FILES:-} == "$got_files" ]] ||
        note "first deploy reported '${D_LINE:-?}', expected 'uploaded $got_files of $got_files files'"
else
    note "first deploy failed (rc $D_RC): $(tail -n 3 "$TMP/deploy/first.err" | tr '\n' ' ')"
fi

# change one file (same size range, new content) and deploy again
CHANGED=d00/f00000.$DEPLOY_EXT
head -c 900 /dev/urandom | base64 -w 76 >"$SRC/$CHANGED"
echo "sites: redeploy after changing $CHANGED ..." >&2
run_deploy second "$SRC" "$DEPLOY_PORT" "$TMP/deploy-data" "$DPID"
add_deploy_row "redeploy, 1 file changed" second
echo "sites: redeploy: rc $D_RC, ${D_WALL:-?} s wall; ${D_LINE:-no 'uploaded' line}" >&2
if (( D_RC == 0 )); then
    (( FIRST_OK )) && [[ ${D_UPLOADED:-} != 1 || ${D_FILES:-} != "$got_files" ]] &&
        note "redeploy reported '${D_LINE:-?}', expected 'uploaded 1 of $got_files files'"
    # the changed file and an unchanged one are served with the right bytes
    last=$(( got_files - 1 ))
    for f in "$CHANGED" "$(printf 'd%02d/f%05d.%s' $(( last % 100 )) "$last" "$DEPLOY_EXT")"; do
        got=$(curl -s -o "$TMP/check.txt" --max-time 5 -w '%{http_code}' -H "Host: $SITE" "http://127.0.0.1:$DEPLOY_PORT/$f")
        if [[ $got != 200 ]] || ! cmp -s "$TMP/check.txt" "$SRC/$f"; then
            note "after the redeploy, GET /$f (Host: $SITE) returned $got or the wrong bytes"
        fi
    done
    rm -f "$TMP/check.txt"
else
    note "redeploy failed (rc $D_RC): $(tail -n 3 "$TMP/deploy/second.err" | tr '\n' ' ')"
fi
DEPLOY_DB_KIB=$(du -sk "$TMP/deploy-data" | awk '{print $1}')
DEPLOY_RSS=$(peak_rss_kib "$DPID")
stop_server hearth-deploy

# ================================================================ report
collect_versions   # cpu_model hearth_rev nginx_ver wrk_ver
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

REPORT=$TMP/report.md
{
    echo "# hearth sites benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $NCPU CPU(s), ${cpu_model:-?}, Linux $(uname -r); load average at start $LOAD_START, at end $LOAD_END"
    echo "- hearth ${hearth_rev} ($HEARTH_BIN); nginx $nginx_ver; wrk $wrk_ver; total run $(( $(date +%s) - T_START )) s"
    echo
    echo "## Serving a site from SQLite vs nginx from disk"
    echo
    echo "- hearth: \`hearth serve --data DIR --workers 1 --access-log off\`, files deployed with \`hearth deploy\` as $SITE;"
    echo "  nginx: same config as bench/run.sh (master_process off, sendfile, tcp_nopush on, open_file_cache), root = the same files"
    echo "- servers pinned to CPU $SERVER_CPU, one worker each; wrk pinned to CPU $WRK_CPU:"
    echo "  -t1 -c$CONNS -d${DURATION}s --latency -H 'Host: $SITE'; $ROUNDS round(s) per server, interleaved; median shown"
    echo "- req/CPU-s = requests / server CPU seconds (utime+stime, /proc/PID/stat); server CPU = % of one core"
    echo
    md_table <"$SERVE_ROWS"
    echo
    echo "Peak RSS (VmHWM after all runs):"
    echo
    {
        printf 'Server\tpeak RSS KiB\tpeak RSS MiB\n'
        for s in "${RUNNING[@]}"; do
            v=${RSS[$s]:-}
            if [[ -n $v ]]; then
                printf '%s\t%s\t%s\n' "$s" "$(fmt_int "$v")" "$(awk -v k="$v" 'BEGIN{printf "%.1f", k/1024}')"
            else
                printf '%s\tn/a\tn/a\n' "$s"
            fi
        done
        printf 'hearth/nginx\t%s\t\n' "$(ratio "${RSS[hearth]:-}" "${RSS[nginx]:-}")"
    } | md_table
    echo
    echo "## Deploy: $got_files small files"
    echo
    echo "- $got_files text files (base64 of random bytes, .$DEPLOY_EXT) of 539–2002 B ($(fmt_int "$src_bytes") bytes in all) in 100 folders, deployed to a fresh"
    echo "  site on a fresh data dir: \`hearth deploy DIR --site $SITE --server http://127.0.0.1:$DEPLOY_PORT --data DIR\`"
    echo "- hearth serve --workers 1, not pinned; wall = the whole \`hearth deploy\` command; files/s = files in the deploy ÷ wall"
    echo "- deploy CLI CPU = user+sys of the \`hearth deploy\` process; server CPU = utime+stime of \`hearth serve\` during the deploy"
    echo "- after both deploys: data dir $(fmt_int "$DEPLOY_DB_KIB") KiB on disk (the files: $(fmt_int "$(( src_bytes / 1024 ))") KiB), server peak RSS $(fmt_int "$DEPLOY_RSS") KiB"
    echo
    md_table <"$DEPLOY_ROWS"
    print_notes
} >"$REPORT"

publish_report "$REPORT"
