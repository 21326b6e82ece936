#!/usr/bin/env bash
# Static-file benchmark: hearth vs nginx vs h2o, one worker each, same files,
# same machine, interleaved runs.  See bench/README.md.
#
# Env knobs:
#   DURATION=8        seconds per wrk run
#   ROUNDS=2          runs per (scenario, server); the median is reported
#   CONNS=64          wrk connections
#   SERVERS="hearth nginx h2o"
#   PIPELINE=16       pipelining depth for the pipelined scenario (0 = skip it)
#   SCENARIOS="1k 64k 1m 1k-pipe"   subset / order of scenarios
#   HEARTH_BIN=build/release/hearth
#   HEARTH_BASE_BIN=  a second hearth binary (e.g. the release build of main before a change),
#                     run as server "hearth-base" in the same run; the report adds hearth/base ratios
#   HEARTH_BASE_PORT=18084
#   HEARTH_PORT=18081 NGINX_PORT=18082 H2O_PORT=18083
#   SERVER_CPU=0 WRK_CPU=1
#   NGINX_TCP_NOPUSH=on   (see README: "on" stalls nginx's pipelined responses)
#   WARMUP=1          seconds of unmeasured load per server before measuring (0 = none)
#   OUT=bench/last-run.md
#   KEEP_TMP=1        keep the temp dir (configs, logs, raw wrk output)
set -u -o pipefail
BENCH_TAG=bench
source "$(dirname "$0")/lib.sh"

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)

DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-64}
SERVERS=${SERVERS:-"hearth nginx h2o"}
PIPELINE=${PIPELINE:-16}
SCENARIOS=${SCENARIOS:-"1k 64k 1m 1k-pipe"}
HEARTH_BIN=${HEARTH_BIN:-$REPO_DIR/build/release/hearth}
HEARTH_BASE_BIN=${HEARTH_BASE_BIN:-}
HEARTH_PORT=${HEARTH_PORT:-18081}
HEARTH_BASE_PORT=${HEARTH_BASE_PORT:-18084}
# hearth refuses HEARTH_* variables it does not know: keep these to the script.
export -n HEARTH_BASE_BIN HEARTH_BASE_PORT
NGINX_PORT=${NGINX_PORT:-18082}
H2O_PORT=${H2O_PORT:-18083}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
WARMUP=${WARMUP:-1}
NGINX_TCP_NOPUSH=${NGINX_TCP_NOPUSH:-on}
OUT=${OUT:-$SCRIPT_DIR/last-run.md}
KEEP_TMP=${KEEP_TMP:-0}
NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
H2O_BIN=${H2O_BIN:-$(command -v h2o || echo /usr/bin/h2o)}
WRK_BIN=${WRK_BIN:-$(command -v wrk || echo /usr/bin/wrk)}

require_posint DURATION seconds
require_posint ROUNDS
require_posint CONNS
[[ $PIPELINE =~ ^[0-9]+$ ]] || die "PIPELINE must be a non-negative integer"
[[ -x $WRK_BIN ]] || die "wrk not found"
need_tools taskset curl getconf timeout pgrep awk
detect_cpus

# ---------------------------------------------------------------- cleanup
make_tmp hearth-bench   # lib.sh: stops what we start and removes $TMP on exit

# ---------------------------------------------------------------- files
WWW=$TMP/www
mkdir -p "$WWW" "$TMP/logs" "$TMP/nginx" "$TMP/hearth-data" "$TMP/wrk"
# h2o (and nginx, were it using a master) drop privileges to nobody when
# started as root; make the tree world-readable.
chmod 755 "$TMP" "$WWW"
declare -A FILE_SIZE=([1k]=1024 [64k]=65536 [1m]=1048576)
make_files 1k 64k 1m

# scenario -> file, wrk extra args
declare -A SC_FILE=([1k]=1k [64k]=64k [1m]=1m [1k-pipe]=1k)
declare -A SC_LABEL=([1k]="1 KiB" [64k]="64 KiB" [1m]="1 MiB" [1k-pipe]="1 KiB, pipelined x$PIPELINE")
SC_LIST=()
for sc in $SCENARIOS; do
    [[ -n ${SC_FILE[$sc]:-} ]] || die "unknown scenario '$sc' (known: 1k 64k 1m 1k-pipe)"
    [[ $sc == 1k-pipe && $PIPELINE -lt 1 ]] && continue
    SC_LIST+=("$sc")
done
(( ${#SC_LIST[@]} )) || die "no scenarios to run"

# ---------------------------------------------------------------- configs
write_nginx_conf "$NGINX_TCP_NOPUSH"

cat >"$TMP/h2o.conf" <<EOF
# no access-log directive => no access logging.
# no pid-file: h2o started as root drops to "nobody" before writing it, and
# the temp dir is root-owned; we know the pid from \$! anyway.
listen:
  host: 127.0.0.1
  port: $H2O_PORT
num-threads: 1
error-log: $TMP/logs/h2o-error.log
hosts:
  default:
    paths:
      /:
        file.dir: $WWW
EOF

# ---------------------------------------------------------------- servers
declare -A PORT=([hearth]=$HEARTH_PORT [nginx]=$NGINX_PORT [h2o]=$H2O_PORT [hearth-base]=$HEARTH_BASE_PORT)
if [[ -n $HEARTH_BASE_BIN && " $SERVERS " != *" hearth-base "* ]]; then SERVERS="$SERVERS hearth-base"; fi
ACTIVE=()
for s in $SERVERS; do
    case $s in
    hearth)
        if [[ ! -x $HEARTH_BIN ]]; then
            note "hearth binary not found at $HEARTH_BIN (build it or set HEARTH_BIN); skipping hearth"
            continue
        fi ;;
    hearth-base) [[ -x $HEARTH_BASE_BIN ]] || { note "HEARTH_BASE_BIN not executable; skipping hearth-base"; continue; } ;;
    nginx) [[ -x $NGINX_BIN ]] || { note "nginx not found; skipping"; continue; } ;;
    h2o) [[ -x $H2O_BIN ]] || { note "h2o not found; skipping"; continue; } ;;
    *) die "unknown server '$s' (known: hearth hearth-base nginx h2o)" ;;
    esac
    ACTIVE+=("$s")
done
(( ${#ACTIVE[@]} )) || die "no servers to benchmark"

start_server() {
    local s=$1 log=$TMP/logs/$1.out
    local port=${PORT[$s]}
    if port_busy "$port"; then
        note "port $port already in use; skipping $s"
        return 1
    fi
    case $s in
    hearth)
        taskset -c "$SERVER_CPU" "$HEARTH_BIN" serve --root "$WWW" --http "127.0.0.1:$port" \
            --workers 1 --access-log off --data "$TMP/hearth-data" >"$log" 2>&1 &
        ;;
    hearth-base)
        mkdir -p "$TMP/hearth-base-data"
        taskset -c "$SERVER_CPU" "$HEARTH_BASE_BIN" serve --root "$WWW" --http "127.0.0.1:$port" \
            --workers 1 --access-log off --data "$TMP/hearth-base-data" >"$log" 2>&1 &
        ;;
    nginx)
        start_nginx "$log"
        ;;
    h2o)
        taskset -c "$SERVER_CPU" "$H2O_BIN" -c "$TMP/h2o.conf" >"$log" 2>&1 &
        ;;
    esac
    PID[$s]=$!   # taskset execs the server, so this is the server's pid
    # wait until it serves the 1 KiB file (bounded: ~10 s)
    wait_200 "${PID[$s]}" "$port"
    case $? in
    2)
        local logs=("$log")
        [[ $s == nginx ]] && logs+=("$TMP/logs/nginx-error.log")
        [[ $s == h2o ]] && logs+=("$TMP/logs/h2o-error.log")
        note "$s exited during startup; skipping. Log: $(tail -q -n 5 "${logs[@]}" 2>/dev/null | tr '\n' ' ')"
        unset "PID[$s]"
        return 1 ;;
    1)
        note "$s did not come up on port $port within 10 s (last status '$HTTP_CODE'); skipping"
        kill -TERM "${PID[$s]}" 2>/dev/null
        return 1 ;;
    esac
    # sanity: every file comes back complete
    check_files "$s" "$port" "1k 64k 1m"
    return 0
}

RUNNING=()
for s in "${ACTIVE[@]}"; do
    start_server "$s" && RUNNING+=("$s")
done
(( ${#RUNNING[@]} )) || die "no server started"

# peak RSS (VmHWM, KiB; peak_rss_kib is in lib.sh) summed over the process
# tree, and the tree's processes
peak_rss_tree_kib() {
    local p sum=0
    for p in $(tree_pids "$1"); do sum=$(( sum + $(peak_rss_kib "$p") )); done
    echo "$sum"
}
tree_desc() {
    local p out=()
    for p in $(tree_pids "$1"); do out+=("$(tr -d '\0' <"/proc/$p/comm" 2>/dev/null)"); done
    echo "${out[*]}"
}

# ---------------------------------------------------------------- load
RESULTS=$TMP/results.tsv
: >"$RESULTS"

# run_wrk SERVER SCENARIO DURATION OUTFILE
run_wrk() {
    local s=$1 sc=$2 dur=$3 out=$4
    local url="http://127.0.0.1:${PORT[$s]}/${SC_FILE[$sc]}.bin"
    local -a extra=() post=()
    if [[ $sc == *-pipe ]]; then
        extra=(-s "$SCRIPT_DIR/pipeline.lua")
        post=(-- "$PIPELINE")
    fi
    wrk_job "$dur" "$out" "${extra[@]}" "$url" "${post[@]}"
}

total_runs=$(( ${#SC_LIST[@]} * ROUNDS * ${#RUNNING[@]} ))
est=$(( total_runs * (DURATION + 1) + ${#RUNNING[@]} * WARMUP ))
echo "bench: servers: ${RUNNING[*]}; scenarios: ${SC_LIST[*]}; ${ROUNDS} round(s) x ${DURATION}s, ${CONNS} conns; ~${est}s" >&2

if (( WARMUP > 0 )); then
    for s in "${RUNNING[@]}"; do
        for sc in "${SC_LIST[@]}"; do
            run_wrk "$s" "$sc" 1 "$TMP/wrk/warmup-$s-$sc.txt" >/dev/null 2>&1 || true
            (( WARMUP > 1 )) || break   # WARMUP=1: only the first scenario
        done
    done
fi

measure_rounds 8 11

declare -A RSS=() RSS_TREE=() PROCS=()
for s in "${RUNNING[@]}"; do
    if kill -0 "${PID[$s]}" 2>/dev/null; then
        RSS[$s]=$(peak_rss_kib "${PID[$s]}")
        RSS_TREE[$s]=$(peak_rss_tree_kib "${PID[$s]}")
        PROCS[$s]=$(tree_desc "${PID[$s]}")
    fi
done

# ---------------------------------------------------------------- report
# aggregate: median over rounds of req/s, req/CPU-s, p99; sum of errors
AGG=$TMP/agg.tsv
aggregate

HAVE_HEARTH=0
for s in "${RUNNING[@]}"; do [[ $s == hearth ]] && HAVE_HEARTH=1; done
HAVE_NGINX=0; HAVE_H2O=0; HAVE_BASE=0
for s in "${RUNNING[@]}"; do
    [[ $s == nginx ]] && HAVE_NGINX=1; [[ $s == h2o ]] && HAVE_H2O=1; [[ $s == hearth-base ]] && HAVE_BASE=1
done

collect_versions   # cpu_model hearth_rev nginx_ver wrk_ver
h2o_ver=$("$H2O_BIN" --version 2>/dev/null | awk 'NR==1 {print $3}')

# Build markdown rows, then pad columns so the table also reads well on a terminal.
ROWS=$TMP/rows.tsv
{
    hdr="Scenario\tServer\treq/s\treq/CPU-s\tserver CPU\tp99 ms\terrors"
    (( HAVE_HEARTH && HAVE_NGINX )) && hdr+="\thearth/nginx req/s\thearth/nginx req/CPU-s"
    (( HAVE_HEARTH && HAVE_H2O )) && hdr+="\thearth/h2o req/s\thearth/h2o req/CPU-s"
    (( HAVE_HEARTH && HAVE_BASE )) && hdr+="\thearth/base req/s\thearth/base req/CPU-s"
    printf '%b\n' "$hdr"
    for sc in "${SC_LIST[@]}"; do
        for s in "${RUNNING[@]}"; do
            rps=$(get "$sc" "$s" 3); rpc=$(get "$sc" "$s" 4); util=$(get "$sc" "$s" 5)
            p99=$(get "$sc" "$s" 6); err=$(get "$sc" "$s" 7)
            line="${SC_LABEL[$sc]}\t$s\t$(fmt_int "$rps")\t$(fmt_int "$rpc")\t${util:+$util%}\t$(fmt_ms "$p99")\t${err:-n/a}"
            if (( HAVE_HEARTH && HAVE_NGINX )); then
                if [[ $s == hearth ]]; then
                    line+="\t$(ratio "$rps" "$(get "$sc" nginx 3)")\t$(ratio "$rpc" "$(get "$sc" nginx 4)")"
                else line+="\t\t"; fi
            fi
            if (( HAVE_HEARTH && HAVE_H2O )); then
                if [[ $s == hearth ]]; then
                    line+="\t$(ratio "$rps" "$(get "$sc" h2o 3)")\t$(ratio "$rpc" "$(get "$sc" h2o 4)")"
                else line+="\t\t"; fi
            fi
            if (( HAVE_HEARTH && HAVE_BASE )); then
                if [[ $s == hearth ]]; then
                    line+="\t$(ratio "$rps" "$(get "$sc" hearth-base 3)")\t$(ratio "$rpc" "$(get "$sc" hearth-base 4)")"
                else line+="\t\t"; fi
            fi
            printf '%b\n' "$line"
        done
    done
} >"$ROWS"

REPORT=$TMP/report.md
{
    echo "# hearth static-file benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $NCPU CPU(s), ${cpu_model:-?}, Linux $(uname -r)"
    echo "- servers pinned to CPU $SERVER_CPU, one worker each; wrk pinned to CPU $WRK_CPU"
    echo "- wrk $wrk_ver: -t1 -c$CONNS -d${DURATION}s --latency; $ROUNDS round(s) per server, interleaved; median shown"
    echo "- hearth ${hearth_rev}$( (( HAVE_HEARTH )) && echo " ($HEARTH_BIN)"); nginx $nginx_ver; h2o $h2o_ver"
    (( HAVE_BASE )) && echo "- hearth-base: $HEARTH_BASE_BIN (same flags, same files, its own data folder)"
    (( HAVE_NGINX )) && echo "- nginx: master_process off, sendfile on, tcp_nopush $NGINX_TCP_NOPUSH, open_file_cache; h2o: num-threads 1, file.dir"
    echo "- req/CPU-s = requests completed / server CPU seconds (utime+stime from /proc/PID/stat) during the run;"
    echo "  server CPU = those CPU seconds as % of the wall-clock run (100% = the one core saturated)"
    echo "- p99 = wrk's 99th percentile (with wrk's coordinated-omission correction). For the pipelined scenario,"
    echo "  wrk times whole batches but corrects as if per response, so that p99 is rough; when wrk prints 0 it shows as n/a"
    echo
    md_table <"$ROWS"
    echo
    echo "Peak RSS (VmHWM after all runs; server process, and summed over it and its child processes):"
    echo
    {
        printf 'Server\tpeak RSS KiB\tpeak RSS MiB\tincl. children KiB\tprocesses\n'
        for s in "${RUNNING[@]}"; do
            v=${RSS[$s]:-}
            if [[ -n $v ]]; then
                printf '%s\t%s\t%s\t%s\t%s\n' "$s" "$(fmt_int "$v")" "$(awk -v k="$v" 'BEGIN{printf "%.1f", k/1024}')" \
                    "$(fmt_int "${RSS_TREE[$s]}")" "${PROCS[$s]}"
            else
                printf '%s\tn/a\tn/a\tn/a\t(exited)\n' "$s"
            fi
        done
    } | md_table
    print_notes
} >"$REPORT"

publish_report "$REPORT"
