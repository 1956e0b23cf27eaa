#!/usr/bin/env bash
# Many replicas on one machine, as a Deployment runs them: three wasibin
# processes on loopback behind nginx (the Service or ingress), a bounded wrk
# load, and each backend restarted in turn during the load the way a
# rolling update restarts pods: SIGTERM, wait for the exit (in-flight
# requests finish within --grace), start it again on the same port, wait
# until it answers. Prints the requests made and the failed ones (non-2xx
# answers and socket errors, as wrk counts them). Target: 0 failed.
#
# nginx retries a request whose backend refused the connection or closed it
# unanswered on another backend (proxy_next_upstream error), which is what
# a backend that stopped accepting, or closed an idle keep-alive connection
# while draining, looks like. A request a backend accepted is answered by
# that backend before it exits.
#
#   bench/replicas.sh                      # builds the release binary first
#   WASIBIN_BIN=path/to/wasibin bench/replicas.sh
#   BENCH_DURATION=20 BENCH_CONNS=16 BENCH_ROUNDS=1 BENCH_PATH=/hello
source "$(dirname "$0")/lib.sh"
need wrk wrk
need nginx nginx-light
if [ -n "${WASIBIN_BIN:-}" ]; then WASIBIN=$WASIBIN_BIN; else build_wasibin; fi

REPLICAS=3
DURATION=${BENCH_DURATION:-20}
CONNS=${BENCH_CONNS:-16}
ROUNDS=${BENCH_ROUNDS:-1}
URL_PATH=${BENCH_PATH:-/hello}
GRACE=5
run="$OUT/replicas"
rm -rf "$run"
mkdir -p "$run/cache"

# One backend: the example site and plugins, a shared compile cache (as an
# emptyDir keeps it across container restarts), one worker each.
declare -a PORT PID
start_backend() {
    local i=$1
    "$WASIBIN" --quiet --grace "$GRACE" --workers 1 --cache-dir "$run/cache" \
        --static "$REPO/static" --plugins "$REPO/plugins" "${PORT[$i]}" \
        >>"$run/backend-$i.log" 2>&1 &
    PID[$i]=$!
    PIDS+=("${PID[$i]}")
    wait_port "${PORT[$i]}"
}

for i in $(seq 0 $((REPLICAS - 1))); do
    PORT[$i]=$(free_port)
    start_backend "$i"
done
servers=""
for i in $(seq 0 $((REPLICAS - 1))); do
    servers+="        server 127.0.0.1:${PORT[$i]} max_fails=1 fail_timeout=1s;
"
done

nport=$(free_port)
cat >"$run/nginx.conf" <<CONF
worker_processes 1;
pid $run/nginx.pid;
error_log $run/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $run/body;
    proxy_temp_path $run/proxy;
    fastcgi_temp_path $run/fastcgi;
    uwsgi_temp_path $run/uwsgi;
    scgi_temp_path $run/scgi;
    upstream wasibin {
        least_conn;
$servers        keepalive 32;
    }
    server {
        listen 127.0.0.1:$nport;
        location / {
            proxy_pass http://wasibin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 1s;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries $REPLICAS;
        }
    }
}
CONF
nginx -c "$run/nginx.conf" -g 'daemon off;' >"$run/nginx.log" 2>&1 &
PIDS+=("$!")
wait_port "$nport"
curl -fsS -o /dev/null "http://127.0.0.1:$nport$URL_PATH"

echo "# $REPLICAS wasibin behind nginx, wrk -t1 -c$CONNS -d${DURATION}s $URL_PATH, $ROUNDS round(s) of restarts, $(nproc) cores"
wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$nport$URL_PATH" >"$run/wrk.txt" 2>&1 &
wrk_pid=$!
PIDS+=("$wrk_pid")

sleep 2
since() { python3 -c "import sys; print(f'{$(date +%s.%N) - float(sys.argv[1]):.2f}')" "$1"; }
restarts=0
started=$(date +%s.%N)
for round in $(seq 1 "$ROUNDS"); do
    for i in $(seq 0 $((REPLICAS - 1))); do
        t0=$(date +%s.%N)
        kill -TERM "${PID[$i]}"
        code=0
        wait "${PID[$i]}" || code=$?
        [ "$code" -eq 0 ] || { echo "replicas: backend $i exited $code on SIGTERM" >&2; exit 1; }
        start_backend "$i"
        curl -fsS -o /dev/null "http://127.0.0.1:${PORT[$i]}$URL_PATH"
        restarts=$((restarts + 1))
        echo "restart $restarts (round $round, backend $i): $(since "$t0") s from SIGTERM to answering again"
        sleep 1
    done
done
restart_span=$(since "$started")
if ! kill -0 "$wrk_pid" 2>/dev/null; then
    echo "replicas: the load ended before the restarts did; raise BENCH_DURATION" >&2
    exit 1
fi
wait "$wrk_pid"

out=$(cat "$run/wrk.txt")
requests=$(awk '/requests in/ {print $1}' <<<"$out")
non2xx=$(awk '/Non-2xx or 3xx responses/ {print $NF}' <<<"$out")
socket=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
failed=$(( ${non2xx:-0} + ${socket:-0} ))
rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
printf 'requests\t%s\nreq/s\t%s\nrestarts\t%d in %s s\nfailed\t%d (non-2xx %d, socket errors %d)\n' \
    "$requests" "$rps" "$restarts" "$restart_span" "$failed" "${non2xx:-0}" "${socket:-0}"
# What nginx retried on another backend: connections refused by a backend
# that had stopped listening, and keep-alive connections a draining backend
# closed as nginx sent a request on them.
refused=$(grep -c "connect() failed" "$run/nginx-error.log" || true)
closed=$(grep -c "while reading response header from upstream" "$run/nginx-error.log" || true)
echo "retried by nginx on another backend: $refused refused connections, $closed closed keep-alive connections ($run/nginx-error.log)"
[ "$failed" -eq 0 ]
