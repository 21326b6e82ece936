# Shared helpers for bench/run.sh and bench/sites.sh, so that both start,
# measure, stop and report the same way.  Sourced, not run:
#   BENCH_TAG=bench; source "$(dirname "$0")/lib.sh"
#
# BENCH_TAG prefixes every message ("bench: ...").  The functions read the
# scripts' globals where noted: TMP WWW PID[] WRK_PID DEPLOY_JOB KEEP_TMP
# SERVER_CPU WRK_CPU WRK_BIN NGINX_BIN NGINX_PORT CONNS DURATION ROUNDS
# SC_LIST[] RUNNING[] RESULTS AGG CLK_TCK FILE_SIZE[] REPO_DIR OUT.

BENCH_TAG=${BENCH_TAG:-bench}
NOTES=()
declare -A PID=()      # server -> pid
WRK_PID=""             # the running wrk (timeout) job, if any
DEPLOY_JOB=""          # the running deploy job, if any (sites.sh)

die() { echo "$BENCH_TAG: error: $*" >&2; exit 1; }
note() { echo "$BENCH_TAG: $*" >&2; NOTES+=("$*"); }

# require_posint VAR [UNIT]: die unless $VAR is a positive integer
require_posint() {
    [[ ${!1} =~ ^[0-9]+$ && ${!1} -ge 1 ]] || die "$1 must be a positive integer${2:+ ($2)}"
}

# need_tools TOOL...: die unless each is on PATH
need_tools() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null || die "$t not found"
    done
}

# sets NCPU and CLK_TCK; with one CPU, wrk shares the server's CPU
detect_cpus() {
    NCPU=$(nproc)
    if (( NCPU < 2 )); then
        note "only $NCPU CPU: server and wrk share CPU $SERVER_CPU"
        WRK_CPU=$SERVER_CPU
    fi
    CLK_TCK=$(getconf CLK_TCK)
}

# ---------------------------------------------------------------- processes
# pids of a process and all its descendants
tree_pids() {
    local p=$1 c
    echo "$p"
    for c in $(pgrep -P "$p" 2>/dev/null); do tree_pids "$c"; done
}

port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# utime+stime (clock ticks) summed over a process tree.
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

# Stops every process we started (servers in PID[], WRK_PID, DEPLOY_JOB, and
# their descendants), removes $TMP unless KEEP_TMP=1, exits with the status.
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    local s p all=()
    # collect every process we started and its descendants (e.g. h2o's
    # crash-handler helper) before anything exits and gets reparented
    for s in "${!PID[@]}"; do all+=($(tree_pids "${PID[$s]}")); done
    [[ -n $WRK_PID ]] && all+=($(tree_pids "$WRK_PID"))
    [[ -n $DEPLOY_JOB ]] && all+=($(tree_pids "$DEPLOY_JOB"))
    for p in "${all[@]}"; do kill -TERM "$p" 2>/dev/null; done
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
        echo "$BENCH_TAG: temp dir kept: $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}

# make_tmp NAME: TMP=/tmp/NAME.XXXXXX, cleaned up on exit or signal
make_tmp() {
    TMP=$(mktemp -d "/tmp/$1.XXXXXX") || die "mktemp failed"
    trap cleanup EXIT
    trap 'echo "$BENCH_TAG: interrupted" >&2; exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

# make_files KEY...: $WWW/KEY.bin of FILE_SIZE[KEY] random bytes, world-readable
make_files() {
    local k
    for k in "$@"; do
        head -c "${FILE_SIZE[$k]}" /dev/urandom >"$WWW/$k.bin" || die "cannot create $WWW/$k.bin"
    done
    chmod 644 "$WWW"/*.bin
}

# ---------------------------------------------------------------- servers
# write_nginx_conf TCP_NOPUSH: $TMP/nginx/nginx.conf, one worker, no master,
# serving $WWW on 127.0.0.1:$NGINX_PORT
write_nginx_conf() {
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
    tcp_nopush $1;
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
}

# start_nginx LOG: nginx with that config, pinned to SERVER_CPU, in the
# background; PID[nginx] = its pid
start_nginx() {
    taskset -c "$SERVER_CPU" "$NGINX_BIN" -p "$TMP/nginx/" -e "$TMP/logs/nginx-error.log" \
        -c "$TMP/nginx/nginx.conf" >"$1" 2>&1 &
    PID[nginx]=$!   # taskset execs the server, so this is the server's pid
}

# wait_200 PID PORT [CURL_ARG...]: poll GET /1k.bin until it answers 200
# (bounded: ~10 s). HTTP_CODE = the last status. Returns 0 on 200, 1 when
# it never did, 2 when PID exited.
wait_200() {
    local pid=$1 port=$2 i
    shift 2
    HTTP_CODE=000
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 2
        HTTP_CODE=$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' "$@" "http://127.0.0.1:$port/1k.bin" 2>/dev/null)
        [[ $HTTP_CODE == 200 ]] && return 0
        sleep 0.1
    done
    return 1
}

# check_files SERVER PORT KEYS [HOST]: every /KEY.bin comes back complete
# (sent with Host: HOST if given); notes the ones that do not
check_files() {
    local s=$1 port=$2 k got
    local -a hdr=()
    local what=""
    [[ -n ${4:-} ]] && { hdr=(-H "Host: $4"); what=" (Host: $4)"; }
    for k in $3; do
        got=$(curl -s -o "$TMP/check.bin" --max-time 5 -w '%{http_code} %{size_download}' "${hdr[@]}" "http://127.0.0.1:$port/$k.bin")
        if [[ $got != "200 ${FILE_SIZE[$k]}" ]] || ! cmp -s "$TMP/check.bin" "$WWW/$k.bin"; then
            note "$s: GET /$k.bin$what returned '$got' (expected '200 ${FILE_SIZE[$k]}') or wrong bytes"
        fi
    done
    rm -f "$TMP/check.bin"
}

# ---------------------------------------------------------------- load
# wrk_job DURATION OUTFILE ARG...: wrk -t1 -cCONNS --latency ARG..., pinned
# to WRK_CPU and bounded by a timeout; returns wrk's status
wrk_job() {
    local dur=$1 out=$2
    shift 2
    timeout -k 5 $(( dur + 30 )) taskset -c "$WRK_CPU" "$WRK_BIN" -t1 -c"$CONNS" -d"${dur}s" \
        --latency "$@" >"$out" 2>&1 &
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

# measure_rounds SCENARIO_WIDTH SERVER_WIDTH: for each scenario in SC_LIST,
# ROUNDS rounds over RUNNING (run_wrk SERVER SCENARIO DURATION OUTFILE, which
# the script defines); one line per run appended to RESULTS:
#   scenario server round req/s requests cpu-ticks p99-ms errors seconds
# and a progress line on stderr. Needs total_runs.
measure_rounds() {
    local scw=$1 sw=$2
    local n=0 sc r cnt j s pid out t0 t1 wrc reqs secs rps p99 errs ticks
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
                printf "%s: [%d/%d] %-${scw}s %-${sw}s r%d  %10.0f req/s  p99 %8s ms  cpu %5.2fs  errors %s\n" \
                    "$BENCH_TAG" "$n" "$total_runs" "$sc" "$s" "$r" "${rps:-0}" "$p99" \
                    "$(awk -v t="$ticks" -v h="$CLK_TCK" 'BEGIN{printf "%.2f", t/h}')" "$errs" >&2
                sleep 0.5
            done
        done
    done
}

# ---------------------------------------------------------------- report
# aggregate RESULTS into AGG: median over rounds of req/s, req/CPU-s,
# server CPU %, p99; sum of errors
aggregate() {
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
}

get() {  # get SCENARIO SERVER FIELD(3=rps 4=rpc 5=cpu% 6=p99 7=err)
    awk -F'\t' -v a="$1" -v b="$2" -v f="$3" '$1==a && $2==b {print $f; found=1; exit} END{if(!found) print ""}' "$AGG"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
fmt_int() { [[ -z $1 ]] && { echo "n/a"; return; }; LC_ALL=C printf "%'d" "$1" 2>/dev/null || echo "$1"; }
fmt_ms() { [[ -z $1 || $1 == nan ]] && { echo "n/a"; return; }; printf '%.2f' "$1"; }

# sets cpu_model hearth_rev nginx_ver wrk_ver for the report header
collect_versions() {
    cpu_model=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
    hearth_rev=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo "?")
    if ! git -C "$REPO_DIR" diff --quiet HEAD 2>/dev/null; then hearth_rev="$hearth_rev (dirty)"; fi
    nginx_ver=$("$NGINX_BIN" -v 2>&1 | sed 's/.*nginx\///' | head -n1)
    wrk_ver=$("$WRK_BIN" -v 2>&1 | awk 'NR==1 {print $2}')
}

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

# the report's closing "Notes:" list, if there are notes
print_notes() {
    local m
    if (( ${#NOTES[@]} )); then
        echo
        echo "Notes:"
        echo
        for m in "${NOTES[@]}"; do echo "- $m"; done
    fi
}

# publish_report REPORT: show it and copy it to OUT
publish_report() {
    echo
    cat "$1"
    cp "$1" "$OUT" && echo && echo "$BENCH_TAG: wrote $OUT" >&2
}

# ---------------------------------------------------------------- litestream
# Litestream for bench/backup.sh, the project's way: the npm package
# @flydotio/litestream-linux-x64 at a pinned version, fetched with `npm pack`
# (a tarball: no install scripts run, nothing added to package.json, so
# `make test` never downloads it), its SHA-1 checked against the registry's
# published shasum, extracted into build/bench-cache/. Prints the binary's path.
LITESTREAM_NPM_VERSION=1.0.1
LITESTREAM_NPM_SHA1=68acc68bf74841e778b1841cda5d113ba7a9248e
litestream_bin() {
    local dir=$REPO_DIR/build/bench-cache/litestream-$LITESTREAM_NPM_VERSION tgz
    if [[ ! -x $dir/package/litestream ]]; then
        mkdir -p "$dir" || return 1
        (cd "$dir" && npm pack --silent --ignore-scripts \
            "@flydotio/litestream-linux-x64@$LITESTREAM_NPM_VERSION" >/dev/null) || return 1
        tgz=$dir/flydotio-litestream-linux-x64-$LITESTREAM_NPM_VERSION.tgz
        [[ $(sha1sum "$tgz" | cut -d' ' -f1) == "$LITESTREAM_NPM_SHA1" ]] || {
            echo "$BENCH_TAG: $tgz does not match the pinned SHA-1" >&2; rm -f "$tgz"; return 1; }
        tar -xzf "$tgz" -C "$dir" package/litestream || return 1
    fi
    echo "$dir/package/litestream"
}
