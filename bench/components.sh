#!/usr/bin/env bash
# Components, one run, one load generator:
# - the same wasi:http hello component (plugins/hello-http.wasm) under
#   wasibin and under `wasmtime serve` (wasmtime-cli 48.0.8, the peer that
#   runs only wasi:http; built once with cargo into bench/out/wasmtime-cli,
#   or BENCH_WASMTIME=path/to/wasmtime). Target: wasibin >= 1.5x its req/s,
#   p99 no worse.
# - the tutorials' form handler in Python (guest-sdk/examples/python/form.py,
#   a componentize-py wasi:cli component) under wasibin, against
#   `python3 -m http.server --cgi` running the tutorials' cgi-bin/post.py on
#   the same POST. Target: >= 20x req/s.
# Prints req/s, p99 and server CPU per request for each, and the ratios.
source "$(dirname "$0")/lib.sh"
need wrk wrk
build_wasibin
[ -f "$REPO/plugins/hello-http.wasm" ] || { echo "bench: plugins/hello-http.wasm was not built" >&2; exit 1; }

WASMTIME=${BENCH_WASMTIME:-$OUT/wasmtime-cli/bin/wasmtime}
if [ ! -x "$WASMTIME" ]; then
    echo "bench: building wasmtime-cli 48.0.8 once into $OUT/wasmtime-cli (about 15-20 minutes on 2 cores)" >&2
    cargo install --quiet --locked wasmtime-cli --version 48.0.8 --root "$OUT/wasmtime-cli"
fi

examples="$OUT/component-examples"
"$REPO/guest-sdk/build-examples.sh" "$examples" >/dev/null
[ -f "$examples/python/form.wasm" ] || { echo "bench: the Python form did not build (.ci/install-deps installs componentize-py)" >&2; exit 1; }

plugins="$OUT/component-plugins"
rm -rf "$plugins"
mkdir -p "$plugins" "$OUT/empty-site"
cp "$REPO/plugins/hello-http.wasm" "$REPO/plugins/hello-p2.wasm" "$plugins/"
cp "$examples/python/form.wasm" "$plugins/form.wasm"

py="$OUT/pycgi-form"
mkdir -p "$py/cgi-bin"
# The tutorials' post.py, in Python 3 (the cgi module is in 3.11, gone in 3.13).
cat >"$py/cgi-bin/post.py" <<'PY'
#!/usr/bin/env python3
import cgi
form = cgi.FieldStorage()
print("Content-Type: text/html")
print()
print("<p>Hello world!</p>")
print("<p>" + repr(form["firstname"].value) + "</p>")
PY
chmod +x "$py/cgi-bin/post.py"

wport=$(free_port)
# The disk cache of compiled modules is this server's normal start-up; the
# Python component takes seconds to compile.
"$WASIBIN" --quiet --cache-dir "$OUT/wasibin-cache" --static "$OUT/empty-site" --plugins "$plugins" "$wport" \
    >"$OUT/wasibin.log" 2>&1 &
WASIBIN_PID=$!
PIDS+=("$WASIBIN_PID")
wait_port "$wport"
wait_answer "$wport"

tport=$(free_port)
# -S cli: the Rust std inside the component imports wasi:cli/environment.
"$WASMTIME" serve -S cli --addr "127.0.0.1:$tport" "$REPO/plugins/hello-http.wasm" >"$OUT/wasmtime-serve.log" 2>&1 &
WASMTIME_PID=$!
PIDS+=("$WASMTIME_PID")
wait_port "$tport"

pport=$(free_port)
(cd "$py" && exec python3 -m http.server --cgi --bind 127.0.0.1 "$pport" >"$OUT/pycgi.log" 2>&1) &
PY_PID=$!
PIDS+=("$PY_PID")
wait_port "$pport"
sleep 0.3

form="-s $BENCH_DIR/fixtures/post-form.lua"
echo "# components: ${DURATION}s per run, $CONNS connections, wrk -t$THREADS, $(nproc) cores"
printf 'server\treq/s\tp99 ms\tcpu us/req\tfaults/req\tclient cores\terrors\n'
w=$(measure "wasibin-hello-http" "http://127.0.0.1:$wport/hello-http" "$WASIBIN_PID")
t=$(measure "wasmtime-serve-hello-http" "http://127.0.0.1:$tport/hello-http" "$WASMTIME_PID")
c=$(measure "wasibin-hello-p2" "http://127.0.0.1:$wport/hello-p2" "$WASIBIN_PID")
WRK_ARGS=$form
f=$(measure "wasibin-python-form" "http://127.0.0.1:$wport/form" "$WASIBIN_PID")
p=$(measure "python-cgi-post.py" "http://127.0.0.1:$pport/cgi-bin/post.py" "$PY_PID")
unset WRK_ARGS
printf '%s\n' "$w" "$t" "$c" "$f" "$p"
echo "hello-http wasibin/wasmtime-serve	$(ratio "$(cut -f2 <<<"$w")" "$(cut -f2 <<<"$t")")x req/s, p99 $(cut -f3 <<<"$w") vs $(cut -f3 <<<"$t") ms"
echo "python form wasibin/python-cgi	$(ratio "$(cut -f2 <<<"$f")" "$(cut -f2 <<<"$p")")x req/s"
