#!/usr/bin/env bash
# 10,000 idle keep-alive connections on loopback: each sends one request and
# then stays open, idle. While they are held, prints the server's resident
# memory (target <= 100 MiB) and the latency of new clients' requests (a
# static file and a plugin), then checks that a sample of the held
# connections is still served. The server starts on a warm compile cache,
# as after any restart (compiling a module leaves the compiler's memory
# with the allocator: tens of MiB that are not the connections'). Bounded:
# BENCH_IDLE connections (default 10000), at most 5 minutes in all; each
# server is started here and stopped by its pid. WASIBIN=path measures that
# binary instead of building the release one.
source "$(dirname "$0")/lib.sh"
if [ -z "${WASIBIN:-}" ]; then
    build_wasibin
fi
[ -f "$REPO/plugins/hello.wasm" ] || {
    echo "bench: plugins/hello.wasm was not built" >&2
    exit 1
}
site="$OUT/idle"
rm -rf "$site"
mkdir -p "$site/static" "$site/plugins"
echo "hello, file" >"$site/static/index.html"
cp "$REPO/plugins/hello.wasm" "$site/plugins/"
# Fill the compile cache with a first start.
port=$(free_port)
"$WASIBIN" --quiet --cache-dir "$site/cache" --static "$site/static" --plugins "$site/plugins" "$port" \
    >"$OUT/wasibin-warm.log" 2>&1 &
warm_pid=$!
PIDS+=("$warm_pid")
wait_port "$port"
# The banner comes once the plugins are loaded (and cached).
for _ in $(seq 1 600); do
    grep -q '^wasibin: serving' "$OUT/wasibin-warm.log" && break
    sleep 0.1
done
kill "$warm_pid"
wait "$warm_pid" || true
# The held connections must outlive the measurement; the client below
# needs a descriptor per connection too.
port=$(free_port)
"$WASIBIN" --quiet --cache-dir "$site/cache" --static "$site/static" --plugins "$site/plugins" \
    --keepalive-timeout 600 "$port" >"$OUT/wasibin.log" 2>&1 &
WASIBIN_PID=$!
PIDS+=("$WASIBIN_PID")
wait_port "$port"
ulimit -n "$(ulimit -Hn)"
timeout 300 python3 - "$port" "$WASIBIN_PID" "${BENCH_IDLE:-10000}" <<'PY'
import selectors, socket, statistics, sys, time

port, pid, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
REQ = b"GET /index.html HTTP/1.1\r\nHost: idle\r\n\r\n"

def rss_kib():
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])

def one_response(sock):
    """Read one whole response (Content-Length framed); its status."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the answer")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        body += chunk
    return int(head.split(b" ")[1])

before, _ = rss_kib()
# Open and answer in waves, so the listen backlog never overflows.
held, sel = [], selectors.DefaultSelector()
start = time.monotonic()
WAVE = 500
while len(held) < count:
    wave = []
    for _ in range(min(WAVE, count - len(held))):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(REQ)
        wave.append(s)
    for s in wave:
        status = one_response(s)
        if status != 200:
            sys.exit(f"idle: a held connection got {status}")
    held.extend(wave)
opened = time.monotonic() - start
time.sleep(2)  # let the workers settle into their idle state
rss, hwm = rss_kib()

def timed(path):
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: new\r\nConnection: close\r\n\r\n".encode())
    status = one_response(s)
    s.close()
    if status != 200:
        sys.exit(f"idle: a new client got {status} for {path}")
    return (time.perf_counter() - t0) * 1000

static_ms = [timed("/index.html") for _ in range(50)]
plugin_ms = [timed("/hello") for _ in range(50)]
# The held connections are still served.
sample = held[:: max(1, len(held) // 200)]
for s in sample:
    s.sendall(REQ)
    if one_response(s) != 200:
        sys.exit("idle: a held connection was not served")
for s in held:
    s.close()

def p(ms, q):
    ms = sorted(ms)
    return ms[min(len(ms) - 1, int(q * len(ms)))]

print(f"idle: {len(held)} keep-alive connections opened and answered in {opened:.1f} s")
print(f"idle: server RSS {rss / 1024:.1f} MiB held ({(rss - before) / len(held):.2f} KiB per connection), "
      f"peak {hwm / 1024:.1f} MiB, {before / 1024:.1f} MiB before (target <= 100 MiB)")
print(f"idle: new client, static file: median {statistics.median(static_ms):.2f} ms, "
      f"p90 {p(static_ms, 0.9):.2f} ms, max {max(static_ms):.2f} ms (50 requests)")
print(f"idle: new client, plugin:      median {statistics.median(plugin_ms):.2f} ms, "
      f"p90 {p(plugin_ms, 0.9):.2f} ms, max {max(plugin_ms):.2f} ms (50 requests)")
print(f"idle: {len(sample)} held connections sampled afterwards, all served")
PY
