#!/usr/bin/env bash
# Plugins, one run, one load generator: the `hello` plugin (a fresh wasm
# instance per request; also with the admin listener on, which makes every
# request counted for /metrics) against nginx serving a 1 KiB file and against
# `python3 -m http.server --cgi` running the same hello as a CGI script.
# Targets: hello >= 0.8x nginx req/s, p99 <= 2 ms at 50
# connections, >= 400x the Python CGI server.
# Two tables: full load (wrk as fast as it can: req/s, and p99 of what is
# then mostly a queue), and a paced load (each connection pauses 5 ms
# between requests, ~8k req/s offered) where p50/p99 are the servers' own
# latency. Python's CGI server cannot keep up with the paced load either.
source "$(dirname "$0")/lib.sh"
need wrk wrk
need nginx nginx-light
build_wasibin
[ -f "$REPO/plugins/hello.wasm" ] || { echo "bench: plugins/hello.wasm was not built" >&2; exit 1; }

site="$OUT/site"
mkdir -p "$site"
head -c 1024 /dev/urandom >"$site/1k.bin"
plugins="$OUT/hello-plugins"
mkdir -p "$plugins"
cp "$REPO/plugins/hello.wasm" "$plugins/hello.wasm"
# The C hello, when clang-19 built it: the same handler without the Rust SDK.
[ -f "$REPO/plugins/hello-c.wasm" ] && cp "$REPO/plugins/hello-c.wasm" "$plugins/hello-c.wasm"
# The JavaScript hello, a script the built-in QuickJS runs from its snapshot.
cp "$REPO/plugins/hello-js.js" "$plugins/hello-js.js"

py="$OUT/pycgi"
mkdir -p "$py/cgi-bin"
cat >"$py/cgi-bin/hello.py" <<'PY'
#!/usr/bin/env python3
print("Content-Type: text/plain")
print()
print("Hello, world!")
PY
chmod +x "$py/cgi-bin/hello.py"

wport=$(free_port)
start_wasibin "$wport" "$site" "$plugins"
# The same server with the admin listener on, so every request is counted
# for /metrics: the cost of the counters, in the same run.
mport=$(free_port)
main_pid=$WASIBIN_PID
start_wasibin "$mport" "$site" "$plugins" --admin "127.0.0.1:$(free_port)"
METRICS_PID=$WASIBIN_PID
WASIBIN_PID=$main_pid
nport=$(free_port)
start_nginx "$nport" "$site"
pport=$(free_port)
(cd "$py" && exec python3 -m http.server --cgi --bind 127.0.0.1 "$pport" >"$OUT/pycgi.log" 2>&1) &
PY_PID=$!
PIDS+=("$PY_PID")
wait_port "$pport"
sleep 0.3
nginx_pids=$(tree_pids "$NGINX_MASTER")

echo "# plugins: ${DURATION}s per run, $CONNS connections, wrk -t$THREADS, $(nproc) cores"
printf 'server\treq/s\tp99 ms\tcpu us/req\tfaults/req\tclient cores\terrors\n'
w=$(measure "wasibin-hello" "http://127.0.0.1:$wport/hello" "$WASIBIN_PID")
m=$(measure "wasibin-hello-metrics" "http://127.0.0.1:$mport/hello" "$METRICS_PID")
c=""
if [ -f "$plugins/hello-c.wasm" ]; then
    c=$(measure "wasibin-hello-c" "http://127.0.0.1:$wport/hello-c" "$WASIBIN_PID")
fi
j=$(measure "wasibin-hello-js" "http://127.0.0.1:$wport/hello-js" "$WASIBIN_PID")
n=$(measure "nginx-1k" "http://127.0.0.1:$nport/1k.bin" $nginx_pids)
# The CGI server forks a Python per request: its CPU is mostly in children
# that are gone by the time we read /proc, so its cpu column is a floor.
p=$(measure "python-cgi-hello" "http://127.0.0.1:$pport/cgi-bin/hello.py" "$PY_PID")
printf '%s\n' "$w" "$m" ${c:+"$c"} "$j" "$n" "$p"
wr=$(cut -f2 <<<"$w"); nr=$(cut -f2 <<<"$n"); pr=$(cut -f2 <<<"$p")
echo "hello/nginx	$(ratio "$wr" "$nr")x req/s"
echo "hello/python-cgi	$(ratio "$wr" "$pr")x req/s"
echo "hello p99	$(cut -f3 <<<"$w") ms (nginx $(cut -f3 <<<"$n") ms)"
echo "hello with metrics/without	$(ratio "$(cut -f2 <<<"$m")" "$wr")x req/s, cpu $(cut -f4 <<<"$m") vs $(cut -f4 <<<"$w") us"
[ -z "$c" ] || echo "hello-c/nginx	$(ratio "$(cut -f2 <<<"$c")" "$nr")x req/s"
echo "hello-js/nginx	$(ratio "$(cut -f2 <<<"$j")" "$nr")x req/s"

echo
echo "# paced: $CONNS connections, each pausing 5 ms between requests"
printf 'server\treq/s\tp50 ms\tp99 ms\tcpu us/req\n'
measure_paced "wasibin-hello" "http://127.0.0.1:$wport/hello" "$WASIBIN_PID"
[ -z "$c" ] || measure_paced "wasibin-hello-c" "http://127.0.0.1:$wport/hello-c" "$WASIBIN_PID"
measure_paced "nginx-1k" "http://127.0.0.1:$nport/1k.bin" $nginx_pids
measure_paced "python-cgi-hello" "http://127.0.0.1:$pport/cgi-bin/hello.py" "$PY_PID"
