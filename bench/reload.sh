#!/usr/bin/env bash
# Hot reload and restart, measured on the release build:
#  1. rename -> first response: a ~100 KiB module is renamed over a plugin
#     while the server runs; time until a request sees the new version
#     (includes the debounce, the compile and the cache write). Target <= 300 ms.
#  2. start-up with 100 plugins: time from exec to the first plugin response,
#     cold (empty cache folder) and warm (same folder again). Target <= 1 s warm.
# Servers are started by the measuring script and stopped by their pid;
# loopback only. BENCH_RELOADS sets the number of renames (default 10).
source "$(dirname "$0")/lib.sh"
build_wasibin
for example in hello echo form; do
    [ -f "$REPO/plugins/$example.wasm" ] || {
        echo "bench: plugins/$example.wasm was not built" >&2
        exit 1
    }
done

work="$OUT/reload"
rm -rf "$work"
mkdir -p "$work"
chmod 700 "$work"

python3 - "$WASIBIN" "$REPO/plugins" "$work" "${BENCH_RELOADS:-10}" <<'PY'
import os, socket, statistics, subprocess, sys, time

wasibin, examples, work, reloads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

# --- a WebAssembly binary encoder, just enough for the modules below --------

def uleb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)

def sleb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if (n == 0 and not b & 0x40) or (n == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)

def vec(items):
    return uleb(len(items)) + b"".join(items)

def name(s):
    s = s.encode()
    return uleb(len(s)) + s

def section(sid, body):
    return bytes([sid]) + uleb(len(body)) + body

I32 = 0x7F

def const(n):
    return b"\x41" + sleb(n)

def version_module(tag, code_bytes):
    """A WASI command printing `tag`, with about `code_bytes` of extra
    compiled code (straight-line integer functions), so compile time is that
    of a real module of that size rather than of a big data blob."""
    stdout = b"Content-Type: text/plain\n\n" + tag.encode() + b"\n"
    per_fn = 40  # blocks of about 17 bytes: ~700 bytes of code per function
    n_fns = max(1, code_bytes // 700)
    types = vec([
        b"\x60" + vec([bytes([I32])] * 4) + vec([bytes([I32])]),  # fd_write
        b"\x60" + vec([]) + vec([]),                              # _start
        b"\x60" + vec([bytes([I32])]) + vec([bytes([I32])]),      # padding
    ])
    imports = vec([name("wasi_snapshot_preview1") + name("fd_write") + b"\x00" + uleb(0)])
    funcs = vec([uleb(1)] + [uleb(2)] * n_fns)
    memory = vec([b"\x00" + uleb(1)])
    exports = vec([name("_start") + b"\x00" + uleb(1), name("memory") + b"\x02" + uleb(0)])
    start = (
        const(0) + const(16) + b"\x36\x02\x00"
        + const(4) + const(len(stdout)) + b"\x36\x02\x00"
        + const(1) + const(0) + const(1) + const(8) + b"\x10" + uleb(0) + b"\x1a"
        + b"\x0b"
    )
    bodies = [vec([]) + start]
    for f in range(n_fns):
        body = b"\x20\x00"  # local.get 0
        for k in range(per_fn):
            seed = (f * 7919 + k * 104729) & 0x3FFFFFFF
            # x = rotl((x + c) * c' ^ local0, k)
            body += const(seed) + b"\x6a" + const(seed | 1) + b"\x6c" + b"\x20\x00" + b"\x73"
            body += const(k % 31 + 1) + b"\x77"
        bodies.append(vec([]) + body + b"\x0b")
    code = vec([uleb(len(b)) + b for b in bodies])
    data = vec([b"\x00" + const(16) + b"\x0b" + uleb(len(stdout)) + stdout])
    return (
        b"\0asm\x01\0\0\0"
        + section(1, types) + section(2, imports) + section(3, funcs)
        + section(5, memory) + section(7, exports) + section(10, code) + section(11, data)
    )

def with_custom_section(wasm, label):
    """The same module made distinct (a new content hash) by a trailing
    custom section, so each copy is compiled and cached on its own."""
    payload = name("wasibin-bench") + label.encode()
    return wasm + section(0, payload)

# --- talking to the server --------------------------------------------------

def get(port, path, timeout=5.0):
    """(status, body) of GET path, or None when nothing answers yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    if not head:
        return None
    return int(head.split(b" ", 2)[1]), body

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def start(plugins, cache, port):
    empty_static = os.path.join(work, "static")
    os.makedirs(empty_static, exist_ok=True)
    log = open(os.path.join(work, f"wasibin-{port}.log"), "w")
    return subprocess.Popen(
        [wasibin, "--quiet", "--bind", "127.0.0.1", "--static", empty_static,
         "--plugins", plugins, "--cache-dir", cache, str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )

def stop(proc):
    proc.terminate()  # SIGTERM to this pid only
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

def wait_for(port, path, ok, deadline_s, poll_s=0.0005):
    t_end = time.monotonic() + deadline_s
    while time.monotonic() < t_end:
        r = get(port, path, timeout=deadline_s)
        if r is not None and ok(r):
            return time.monotonic()
        time.sleep(poll_s)
    raise SystemExit(f"bench: GET {path} never became ready within {deadline_s} s")

def summary(ms):
    return f"min {min(ms):.0f} / median {statistics.median(ms):.0f} / max {max(ms):.0f} ms"

# --- 1. rename -> first response from the new version ------------------------

plugins = os.path.join(work, "plugins-reload")
staging = os.path.join(work, "staging")  # same file system, outside plugins/
cache = os.path.join(work, "cache-reload")
os.makedirs(plugins)
os.makedirs(staging)
first = version_module("v0", 100 * 1024)
size_kib = len(first) / 1024
with open(os.path.join(plugins, "big.wasm"), "wb") as f:
    f.write(first)
port = free_port()
proc = start(plugins, cache, port)
try:
    wait_for(port, "/big", lambda r: r[0] == 200 and r[1] == b"v0\n", 120)
    latencies = []
    for i in range(1, reloads + 1):
        tag = f"v{i}".encode() + b"\n"
        src = os.path.join(staging, "big.wasm")
        with open(src, "wb") as f:
            f.write(version_module(f"v{i}", 100 * 1024))
        time.sleep(0.3)  # let any earlier activity settle; not part of the figure
        t0 = time.monotonic()
        os.rename(src, os.path.join(plugins, "big.wasm"))
        t1 = wait_for(port, "/big", lambda r: r[0] == 200 and r[1] == tag, 30)
        latencies.append((t1 - t0) * 1000)
finally:
    stop(proc)
print(f"# hot reload: rename of a {size_kib:.0f} KiB module -> first response from it, "
      f"{reloads} runs, {os.cpu_count()} cores")
print("rename->response\t" + summary(latencies) + "\t(target <= 300 ms)")
print("runs (ms)\t" + " ".join(f"{m:.0f}" for m in latencies))

# --- 2. start-up with 100 plugins, cold and warm ------------------------------

plugins = os.path.join(work, "plugins-100")
cache = os.path.join(work, "cache-100")
os.makedirs(plugins)
bases = []
for example in ("hello", "echo", "form"):
    with open(os.path.join(examples, f"{example}.wasm"), "rb") as f:
        bases.append(f.read())
total = 0
for i in range(100):
    wasm = with_custom_section(bases[i % len(bases)], f"copy {i}")
    total += len(wasm)
    with open(os.path.join(plugins, f"p{i:03}.wasm"), "wb") as f:
        f.write(wasm)

def startup():
    port = free_port()
    t0 = time.monotonic()
    proc = start(plugins, cache, port)
    try:
        t1 = wait_for(port, "/p099", lambda r: r[0] == 200, 300, poll_s=0.002)
    finally:
        stop(proc)
    return (t1 - t0) * 1000

cold = startup()
warm = [startup() for _ in range(3)]
entries = sum(len(files) for _, _, files in os.walk(cache))
print(f"# start-up to first plugin response, 100 plugins (the hello/echo/form examples, "
      f"{total / 1024 / 1024:.1f} MiB of wasm, each distinct), {entries} cache entries")
print(f"cold (empty cache)\t{cold:.0f} ms")
print(f"warm (cached)\t{summary(warm)}\t(target <= 1000 ms)")
PY
