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
#   HEARTH_PORT=18081 NGINX_PORT=18082 H2O_PORT=18083
#   SERVER_CPU=0 WRK_CPU=1
#   NGINX_TCP_NOPUSH=on   (see README: "on" stalls nginx's pipelined responses)
#   WARMUP=1          seconds of unmeasured load per server before measuring (0 = none)
#   OUT=bench/last-run.md
#   KEEP_TMP=1        keep the temp dir (configs, logs, raw wrk output)
set -u -o pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)

DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-64}
SERVERS=${SERVERS:-"hearth nginx h2o"}
PIPELINE=${PIPELINE:-16}
SCENARIOS=${SCENARIOS:-"1k 64k 1m 1k-pipe"}
HEARTH_BIN=${HEARTH_BIN:-$REPO_DIR/build/release/hearth}
HEARTH_PORT=${HEARTH_PORT:-18081}
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

die() { echo "bench: error: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; NOTES+=("$*"); }
NOTES=()

[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 ]] || die "DURATION must be a positive integer (seconds)"
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -ge 1 ]] || die "ROUNDS must be a positive integer"
[[ $CONNS =~ ^[0-9]+$ && $CONNS -ge 1 ]] || die "CONNS must be a positive integer"
[[ $PIPELINE =~ ^[0-9]+$ ]] || die "PIPELINE must be a non-negative integer"
[[ -x $WRK_BIN ]] || die "wrk not found"
for t in taskset curl getconf timeout pgrep awk; do
    command -v "$t" >/dev/null || die "$t not found"
done

NCPU=$(nproc)
if (( NCPU < 2 )); then
    note "only $NCPU CPU: server and wrk share CPU $SERVER_CPU"
    WRK_CPU=$SERVER_CPU
fi
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- cleanup
TMP=$(mktemp -d /tmp/hearth-bench.XXXXXX) || die "mktemp failed"
declare -A PID=()      # server -> pid
WRK_PID=""

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    [[ -n $WRK_PID ]] && kill -TERM "$WRK_PID" 2>/dev/null
    local s p all=()
    # remember every process we started and its descendants (e.g. h2o's
    # crash-handler helper) before anything exits and gets reparented
    for s in "${!PID[@]}"; do
        all+=($(tree_pids "${PID[$s]}"))
    done
    [[ -n $WRK_PID ]] && all+=("$WRK_PID")
    for s in "${!PID[@]}"; do kill -TERM "${PID[$s]}" 2>/dev/null; done
    # give everything up to ~4 s to exit (h2o takes ~1-2 s), then SIGKILL
    local i alive
    for i in $(seq 40); do
        alive=0
        for p in "${all[@]}"; do kill -0 "$p" 2>/dev/null && { alive=1; break; }; done
        (( alive )) || break
        sleep 0.1
    done
    for p in "${all[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [[ $KEEP_TMP == 1 ]]; then
        echo "bench: temp dir kept: $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------- files
WWW=$TMP/www
mkdir -p "$WWW" "$TMP/logs" "$TMP/nginx" "$TMP/hearth-data" "$TMP/wrk"
# h2o (and nginx, were it using a master) drop privileges to nobody when
# started as root; make the tree world-readable.
chmod 755 "$TMP" "$WWW"
declare -A FILE_SIZE=([1k]=1024 [64k]=65536 [1m]=1048576)
for k in 1k 64k 1m; do
    head -c "${FILE_SIZE[$k]}" /dev/urandom >"$WWW/$k.bin" || die "cannot create $WWW/$k.bin"
done
chmod 644 "$WWW"/*.bin

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
cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/logs/nginx-error.log warn;

events {
    worker_connections 4096;
}

http {
    access_log off;
    sendfile on;
    tcp_nopush $NGINX_TCP_NOPUSH;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;

    types { application/octet-stream bin; }
    default_type application/octet-stream;

    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path       $TMP/nginx/proxy;
    fastcgi_temp_path     $TMP/nginx/fastcgi;
    uwsgi_temp_path       $TMP/nginx/uwsgi;
    scgi_temp_path        $TMP/nginx/scgi;

    server {
        listen 127.0.0.1:$NGINX_PORT;
        server_name localhost;
        root $WWW;
    }
}
EOF

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
declare -A PORT=([hearth]=$HEARTH_PORT [nginx]=$NGINX_PORT [h2o]=$H2O_PORT)
ACTIVE=()
for s in $SERVERS; do
    case $s in
    hearth)
        if [[ ! -x $HEARTH_BIN ]]; then
            note "hearth binary not found at $HEARTH_BIN (build it or set HEARTH_BIN); skipping hearth"
            continue
        fi ;;
    nginx) [[ -x $NGINX_BIN ]] || { note "nginx not found; skipping"; continue; } ;;
    h2o) [[ -x $H2O_BIN ]] || { note "h2o not found; skipping"; continue; } ;;
    *) die "unknown server '$s' (known: hearth nginx h2o)" ;;
    esac
    ACTIVE+=("$s")
done
(( ${#ACTIVE[@]} )) || die "no servers to benchmark"

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

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
    nginx)
        taskset -c "$SERVER_CPU" "$NGINX_BIN" -p "$TMP/nginx/" -e "$TMP/logs/nginx-error.log" \
            -c "$TMP/nginx/nginx.conf" >"$log" 2>&1 &
        ;;
    h2o)
        taskset -c "$SERVER_CPU" "$H2O_BIN" -c "$TMP/h2o.conf" >"$log" 2>&1 &
        ;;
    esac
    PID[$s]=$!   # taskset execs the server, so this is the server's pid
    # wait until it serves the 1 KiB file (bounded: ~10 s)
    local i code
    for i in $(seq 100); do
        if ! kill -0 "${PID[$s]}" 2>/dev/null; then
            local logs=("$log")
            [[ $s == nginx ]] && logs+=("$TMP/logs/nginx-error.log")
            [[ $s == h2o ]] && logs+=("$TMP/logs/h2o-error.log")
            note "$s exited during startup; skipping. Log: $(tail -q -n 5 "${logs[@]}" 2>/dev/null | tr '\n' ' ')"
            unset "PID[$s]"
            return 1
        fi
        code=$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' "http://127.0.0.1:$port/1k.bin" 2>/dev/null)
        [[ $code == 200 ]] && break
        sleep 0.1
    done
    if [[ $code != 200 ]]; then
        note "$s did not come up on port $port within 10 s (last status '$code'); skipping"
        kill -TERM "${PID[$s]}" 2>/dev/null
        return 1
    fi
    # sanity: every file comes back complete
    local k got
    for k in 1k 64k 1m; do
        got=$(curl -s -o "$TMP/check.bin" --max-time 5 -w '%{http_code} %{size_download}' "http://127.0.0.1:$port/$k.bin")
        if [[ $got != "200 ${FILE_SIZE[$k]}" ]] || ! cmp -s "$TMP/check.bin" "$WWW/$k.bin"; then
            note "$s: GET /$k.bin returned '$got' (expected '200 ${FILE_SIZE[$k]}') or wrong bytes"
        fi
    done
    rm -f "$TMP/check.bin"
    return 0
}

RUNNING=()
for s in "${ACTIVE[@]}"; do
    start_server "$s" && RUNNING+=("$s")
done
(( ${#RUNNING[@]} )) || die "no server started"

# pids of a process and all its descendants
tree_pids() {
    local p=$1 c
    echo "$p"
    for c in $(pgrep -P "$p" 2>/dev/null); do tree_pids "$c"; done
}

# utime+stime (clock ticks) summed over the server's process tree.
# /proc/PID/stat counts all threads, including exited ones.
cpu_ticks() {
    local p sum=0 f
    for p in $(tree_pids "$1"); do
        f=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        # after "pid (comm) ": state=1 ppid=2 ... utime=12 stime=13
        set -- $f
        sum=$(( sum + ${12} + ${13} ))
    done
    echo "$sum"
}

# peak RSS (VmHWM, KiB) of one process
peak_rss_kib() {
    local v
    v=$(awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null)
    echo "${v:-0}"
}
# ... summed over the process tree, and the tree's processes
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
    timeout -k 5 $(( dur + 30 )) taskset -c "$WRK_CPU" "$WRK_BIN" -t1 -c"$CONNS" -d"${dur}s" \
        --latency "${extra[@]}" "$url" "${post[@]}" >"$out" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID"
    local rc=$?
    WRK_PID=""
    return $rc
}

# p99 in ms from wrk --latency output
parse_p99_ms() {
    awk '/^ +99%/ {
        v=$2; u=v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
        if (u=="us") v/=1000; else if (u=="s") v*=1000; else if (u=="m") v*=60000;
        printf "%.3f", v; found=1 }
        END { if (!found) printf "nan" }' "$1" | sed 's/^0\.000$/nan/'   # wrk prints 0 when its histogram breaks
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

n=0
for sc in "${SC_LIST[@]}"; do
    for (( r = 1; r <= ROUNDS; r++ )); do
        # rotate the server order every round so no server is always first
        cnt=${#RUNNING[@]}
        for (( j = 0; j < cnt; j++ )); do
            s=${RUNNING[$(( (j + r - 1) % cnt ))]}
            n=$(( n + 1 ))
            pid=${PID[$s]}
            if ! kill -0 "$pid" 2>/dev/null; then
                note "$s (pid $pid) died; no result for $sc round $r"
                continue
            fi
            out=$TMP/wrk/$sc-$s-r$r.txt
            t0=$(cpu_ticks "$pid")
            run_wrk "$s" "$sc" "$DURATION" "$out"
            wrc=$?
            t1=$(cpu_ticks "$pid")
            if ! kill -0 "$pid" 2>/dev/null; then
                note "$s (pid $pid) died during $sc round $r; result discarded"
                continue
            fi
            if (( wrc != 0 )); then
                note "wrk failed (rc $wrc) for $s/$sc round $r: $(tail -n 3 "$out" | tr '\n' ' ')"
                continue
            fi
            reqs=$(awk '/ requests in / {print $1; exit}' "$out")
            secs=$(awk '/ requests in / {v=$4; sub(/,$/, "", v); if (v ~ /ms$/) {sub(/ms$/, "", v); v/=1000} else if (v ~ /m$/) {sub(/m$/, "", v); v*=60} else sub(/s$/, "", v); print v; exit}' "$out")
            rps=$(awk '/^Requests\/sec:/ {print $2; exit}' "$out")
            p99=$(parse_p99_ms "$out")
            errs=$(awk '/Socket errors:/ {gsub(/,/, ""); e += $4 + $6 + $8 + $10}
                        /Non-2xx or 3xx responses:/ {e += $NF}
                        END {print e + 0}' "$out")
            ticks=$(( t1 - t0 ))
            printf '%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$s" "$r" "${rps:-0}" "${reqs:-0}" \
                "$ticks" "${p99:-nan}" "$errs" "${secs:-$DURATION}" >>"$RESULTS"
            printf 'bench: [%d/%d] %-8s %-8s r%d  %10.0f req/s  p99 %8s ms  cpu %5.2fs  errors %s\n' \
                "$n" "$total_runs" "$sc" "$s" "$r" "${rps:-0}" "$p99" \
                "$(awk -v t="$ticks" -v h="$CLK_TCK" 'BEGIN{printf "%.2f", t/h}')" "$errs" >&2
            sleep 0.5
        done
    done
done

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
awk -F'\t' -v hz="$CLK_TCK" '
function median(str,   a, n, i, j, t) {
    n = split(str, a, " ")
    for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j+1] = a[j]; a[j+1] = t }
    if (n == 0) return "nan"
    return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
{
    k = $1 SUBSEP $2
    if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
    rps[k] = rps[k] " " $4
    cpus = $6 / hz
    rpc[k] = rpc[k] " " ((cpus > 0) ? $5 / cpus : 0)
    util[k] = util[k] " " (($9 > 0) ? 100 * cpus / $9 : 0)
    if ($7 != "nan") p99[k] = p99[k] " " $7
    err[k] += $8
}
END {
    for (i = 1; i <= nk; i++) {
        k = order[i]; split(k, parts, SUBSEP)
        printf "%s\t%s\t%.0f\t%.0f\t%.1f\t%s\t%d\n", parts[1], parts[2], median(rps[k]), median(rpc[k]),
            median(util[k]), median(p99[k]), err[k]
    }
}' "$RESULTS" >"$AGG"

get() {  # get SCENARIO SERVER FIELD(3=rps 4=rpc 5=cpu% 6=p99 7=err)
    awk -F'\t' -v a="$1" -v b="$2" -v f="$3" '$1==a && $2==b {print $f; found=1; exit} END{if(!found) print ""}' "$AGG"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
fmt_int() { [[ -z $1 ]] && { echo "n/a"; return; }; LC_ALL=C printf "%'d" "$1" 2>/dev/null || echo "$1"; }
fmt_ms() { [[ -z $1 || $1 == nan ]] && { echo "n/a"; return; }; printf '%.2f' "$1"; }

HAVE_HEARTH=0
for s in "${RUNNING[@]}"; do [[ $s == hearth ]] && HAVE_HEARTH=1; done
HAVE_NGINX=0; HAVE_H2O=0
for s in "${RUNNING[@]}"; do [[ $s == nginx ]] && HAVE_NGINX=1; [[ $s == h2o ]] && HAVE_H2O=1; done

cpu_model=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
hearth_rev=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo "?")
if ! git -C "$REPO_DIR" diff --quiet HEAD 2>/dev/null; then hearth_rev="$hearth_rev (dirty)"; fi
nginx_ver=$("$NGINX_BIN" -v 2>&1 | sed 's/.*nginx\///' | head -n1)
h2o_ver=$("$H2O_BIN" --version 2>/dev/null | awk 'NR==1 {print $3}')
wrk_ver=$("$WRK_BIN" -v 2>&1 | awk 'NR==1 {print $2}')

# Build markdown rows, then pad columns so the table also reads well on a terminal.
ROWS=$TMP/rows.tsv
{
    hdr="Scenario\tServer\treq/s\treq/CPU-s\tserver CPU\tp99 ms\terrors"
    (( HAVE_HEARTH && HAVE_NGINX )) && hdr+="\thearth/nginx req/s\thearth/nginx req/CPU-s"
    (( HAVE_HEARTH && HAVE_H2O )) && hdr+="\thearth/h2o req/s\thearth/h2o req/CPU-s"
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
            printf '%b\n' "$line"
        done
    done
} >"$ROWS"

md_table() {  # TSV on stdin -> padded markdown table
    awk -F'\t' '
    { for (i = 1; i <= NF; i++) { c[NR, i] = $i; l = length($i); if (l > w[i]) w[i] = l
                                  if (NR > 1 && $i != "" && $i !~ /^([-+0-9.,%]+|n\/a)$/) txt[i] = 1 }
      if (NF > nf) nf = NF; nr = NR }
    END {
        for (r = 1; r <= nr; r++) {
            s = "|"
            for (i = 1; i <= nf; i++) s = s sprintf(" %" (txt[i] ? "-" : "") w[i] "s |", c[r, i])
            print s
            if (r == 1) {
                s = "|"
                for (i = 1; i <= nf; i++) { d = ""; for (k = 0; k < w[i]; k++) d = d "-"; if (!txt[i]) d = substr(d, 2) ":"; s = s " " d " |" }
                print s
            }
        }
    }'
}

REPORT=$TMP/report.md
{
    echo "# hearth static-file benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $NCPU CPU(s), ${cpu_model:-?}, Linux $(uname -r)"
    echo "- servers pinned to CPU $SERVER_CPU, one worker each; wrk pinned to CPU $WRK_CPU"
    echo "- wrk $wrk_ver: -t1 -c$CONNS -d${DURATION}s --latency; $ROUNDS round(s) per server, interleaved; median shown"
    echo "- hearth ${hearth_rev}$( (( HAVE_HEARTH )) && echo " ($HEARTH_BIN)"); nginx $nginx_ver; h2o $h2o_ver"
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
    if (( ${#NOTES[@]} )); then
        echo
        echo "Notes:"
        echo
        for m in "${NOTES[@]}"; do echo "- $m"; done
    fi
} >"$REPORT"

echo
cat "$REPORT"
cp "$REPORT" "$OUT" && echo && echo "bench: wrote $OUT" >&2
