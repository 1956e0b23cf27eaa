# Shared helpers for the benchmarks: start/stop the servers we measure, run
# wrk against them, and read server CPU time from /proc. Sourced, not run.
# Every server started here is stopped by its pid on exit; loopback only.

set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
OUT="${BENCH_OUT:-$REPO/bench/out}"
DURATION="${BENCH_DURATION:-10}"
CONNS="${BENCH_CONNS:-50}"
THREADS="${BENCH_THREADS:-2}"
mkdir -p "$OUT"
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT

need() {
    command -v "$1" >/dev/null || {
        echo "bench: '$1' is missing: apt-get install -y $2" >&2
        exit 1
    }
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
    local port=$1 i
    for i in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "bench: nothing listening on $port" >&2
    exit 1
}

# wait_answer PORT: until a server on PORT answers HTTP. wasibin listens
# before its first scan of the plugins folder is done (connections queue),
# so a port that accepts is not yet a server that serves: measuring then
# would time its compiles. Bounded: 10 minutes.
wait_answer() {
    local port=$1 i
    for i in $(seq 1 600); do
        if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then return 0; fi
        sleep 0.1
    done
    echo "bench: nothing answered on $port" >&2
    exit 1
}

# Build the release binary (and through host/build.rs the example plugins),
# in CARGO_TARGET_DIR when it is set.
build_wasibin() {
    (cd "$REPO" && cargo build --release -q -p wasibin)
    WASIBIN="${CARGO_TARGET_DIR:-$REPO/target}/release/wasibin"
}

# start_wasibin PORT STATIC PLUGINS [ARGS...]: sets WASIBIN_PID
start_wasibin() {
    local port=$1 static=$2 plugins=$3
    shift 3
    "$WASIBIN" --quiet --no-cache --static "$static" --plugins "$plugins" "$@" "$port" \
        >"$OUT/wasibin.log" 2>&1 &
    WASIBIN_PID=$!
    PIDS+=("$WASIBIN_PID")
    wait_port "$port"
    wait_answer "$port"
}

# start_nginx PORT ROOT [TLS_DIR]: a master and two workers (one per core),
# access log off like wasibin --quiet, sendfile on; with TLS_DIR, HTTPS with
# its cert.pem and key.pem; sets NGINX_MASTER.
start_nginx() {
    local port=$1 root=$2 tls_dir=${3:-} conf="$OUT/nginx-$1" listen
    listen="listen 127.0.0.1:$port;"
    if [ -n "$tls_dir" ]; then
        listen="listen 127.0.0.1:$port ssl;
        ssl_certificate $tls_dir/cert.pem;
        ssl_certificate_key $tls_dir/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;"
    fi
    mkdir -p "$conf"
    cat >"$conf/nginx.conf" <<CONF
worker_processes auto;
pid $conf/nginx.pid;
error_log $conf/error.log warn;
events { worker_connections 4096; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $conf/body;
    proxy_temp_path $conf/proxy;
    fastcgi_temp_path $conf/fastcgi;
    uwsgi_temp_path $conf/uwsgi;
    scgi_temp_path $conf/scgi;
    server {
        $listen
        root $root;
    }
}
CONF
    nginx -c "$conf/nginx.conf" -g 'daemon off;' >"$conf/stdout.log" 2>&1 &
    NGINX_MASTER=$!
    PIDS+=("$NGINX_MASTER")
    wait_port "$port"
}

# Server CPU time (user+system, in clock ticks) of a pid and its children
# threads; for nginx pass the master and read its workers too.
cpu_ticks() {
    local total=0 pid
    for pid in "$@"; do
        for t in /proc/"$pid"/task/*/stat; do
            # A thread (or a CGI child) may end between the glob and the read.
            local ticks
            ticks=$(awk '{print $14 + $15}' "$t" 2>/dev/null) || continue
            total=$((total + ${ticks:-0}))
        done
    done
    echo "$total"
}

# Minor page faults so far of the given processes (all their threads). A
# fresh instance per request that faults is a pool slot whose memory was
# decommitted, not reset in place: the first thing to look at when a plugin's
# server CPU is mostly system time.
minor_faults() {
    local total=0 pid f
    for pid in "$@"; do
        f=$(awk '{print $10}' "/proc/$pid/stat" 2>/dev/null) || continue
        total=$((total + ${f:-0}))
    done
    echo "$total"
}

tree_pids() {
    local root=$1
    echo "$root"
    pgrep -P "$root" || true
}

# children_cpu_s FILE: from what `times` wrote to FILE, the CPU seconds
# (user+system) the shell's finished children had used. `times` must run in
# the shell that started them, not in a command substitution (a subshell of
# its own, with no children).
children_cpu_s() {
    awk 'NR==2 {
        t = 0
        for (i = 1; i <= 2; i++) { split($i, p, "m"); t += p[1] * 60 + p[2] }
        print t
    }' "$1"
}

# measure NAME URL PIDS... : runs wrk, prints one TSV row:
# name req/s p99_ms cpu_us_per_req minor_faults_per_req client_cores errors.
# client_cores is wrk's own CPU over the run, in cores: on a machine as
# small as the benches run on, server and client share the cores, and a run
# where the two together use them all measures how the scheduler splits the
# machine as much as the server (the 1 MiB row: the client's copy out of the
# socket costs about as much as the server's send); then server CPU per
# request is the figure to compare. WRK_ARGS adds wrk options (a -s script).
measure() {
    local name=$1 url=$2
    shift 2
    local before after out rps p99 reqs faults_before faults_after
    # shellcheck disable=SC2086 # WRK_ARGS is a list of words
    wrk -t"$THREADS" -c"$CONNS" -d2s ${WRK_ARGS:-} "$url" >/dev/null 2>&1 || true # warm-up
    faults_before=$(minor_faults "$@")
    before=$(cpu_ticks "$@")
    local client_before client_after
    times >"$OUT/times-$name.txt"
    client_before=$(children_cpu_s "$OUT/times-$name.txt")
    # shellcheck disable=SC2086
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency ${WRK_ARGS:-} "$url" >"$OUT/wrk-$name.txt"
    times >"$OUT/times-$name.txt"
    client_after=$(children_cpu_s "$OUT/times-$name.txt")
    after=$(cpu_ticks "$@")
    out=$(cat "$OUT/wrk-$name.txt")
    faults_after=$(minor_faults "$@")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    local ticks_per_s
    ticks_per_s=$(getconf CLK_TCK)
    local cpu_us
    cpu_us=$(python3 -c "print(f'{($after-$before)/$ticks_per_s*1e6/max($reqs,1):.1f}')")
    local faults errors
    faults=$(python3 -c "print(f'{($faults_after-$faults_before)/max($reqs,1):.2f}')")
    local client_cores
    client_cores=$(python3 -c "print(f'{($client_after-$client_before)/$DURATION:.2f}')")
    errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rps" "$(to_ms "$p99")" "$cpu_us" "$faults" "$client_cores" "$errors"
}

# measure_paced NAME URL PID... : latency under a steady load below saturation
# (bench/fixtures/pace.lua: each connection pauses 5 ms between requests).
# At full load every closed-loop client measures a queue: with 50
# connections the mean latency is 50 / req/s whatever the server does.
# wrk sends each thread's paced requests from its millisecond timer, several
# at once, so p50 grows with the server's CPU per request at this load,
# which is printed beside it.
# Prints one TSV row: name req/s p50_ms p99_ms cpu_us_per_req
measure_paced() {
    local name=$1 url=$2 out before after reqs cpu_us
    shift 2
    before=$(cpu_ticks "$@")
    out=$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$BENCH_DIR/fixtures/pace.lua" "$url")
    after=$(cpu_ticks "$@")
    echo "$out" >"$OUT/wrk-paced-$name.txt"
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    cpu_us=$(python3 -c "print(f'{($after-$before)/$(getconf CLK_TCK)*1e6/max($reqs,1):.1f}')")
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" \
        "$(awk '/^Requests\/sec/ {print $2}' <<<"$out")" \
        "$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")" \
        "$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")" \
        "$cpu_us"
}

# wrk prints latencies as 812.00us, 1.23ms or 1.01s: to milliseconds.
to_ms() {
    python3 - "$1" <<'PY'
import sys
v = sys.argv[1]
for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
    if v.endswith(unit):
        print(f"{float(v[:-len(unit)])*f:.2f}")
        break
else:
    print(v)
PY
}

ratio() {
    python3 -c "print(f'{float($1)/float($2):.2f}')"
}
