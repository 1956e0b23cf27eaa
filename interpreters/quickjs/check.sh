#!/usr/bin/env bash
# Checks quickjs.wasm the way the host runs it, with the wasmtime CLI: plain
# runs (the script in a preopened folder) and pre-initialised runs (a Wizer
# snapshot made with the script on stdin, then run per request), for the
# examples in guest-sdk/examples/quickjs and for the failure modes.
#
#   interpreters/quickjs/check.sh            # builds the module first
#   QUICKJS_WASM=path/quickjs.wasm interpreters/quickjs/check.sh
#
# WASMTIME names the CLI (48.x, with `wasmtime wizer`); every run is bounded
# by `timeout`. Prints one line per check and "N passed, N failed".
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
wasmtime=${WASMTIME:-/work/scratch/wasmtime-cli/bin/wasmtime}
if ! "$wasmtime" wizer --help >/dev/null 2>&1; then
    echo "check.sh: $wasmtime has no 'wizer' command (set WASMTIME to a wasmtime 48 CLI)" >&2
    exit 2
fi

if [ -z "${QUICKJS_WASM:-}" ]; then
    # The environment host/build.rs uses (see README.md there and the
    # QuickJS section of guest-sdk/README.md).
    target=${CARGO_TARGET_DIR:-$root/target}
    RQUICKJS_SYS_NO_WASI_SDK=1 CC_wasm32_wasip1=clang-19 AR_wasm32_wasip1=llvm-ar-19 \
        CFLAGS_wasm32_wasip1="-nostdlibinc -isystem /usr/include/wasm32-wasi" \
        timeout 900 cargo build --quiet --release -p wasibin-quickjs --target wasm32-wasip1 \
        --manifest-path "$root/Cargo.toml" --target-dir "$target" || exit 2
    QUICKJS_WASM=$target/wasm32-wasip1/release/quickjs.wasm
fi
module=$QUICKJS_WASM
echo "check.sh: $module, $(stat -c %s "$module") bytes"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

ok() {
    passed=$((passed + 1))
    echo "ok: $1"
}
fail() {
    failed=$((failed + 1))
    echo "FAILED: $1"
    [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/    /'
}

# plain SCRIPT [ENV=VALUE...] < body: a plain run of SCRIPT; sets out, err, rc.
plain() {
    local script=$1 envs=()
    shift
    for e in "$@"; do envs+=(--env "$e"); done
    mkdir -p "$work/dir-$(basename "$script")"
    cp "$script" "$work/dir-$(basename "$script")/"
    timeout 30 "$wasmtime" run --argv0 route "${envs[@]}" \
        --dir "$work/dir-$(basename "$script")::/wasibin/script" \
        "$module" "/wasibin/script/$(basename "$script")" >"$work/out" 2>"$work/err"
    rc=$?
    out=$(tr -d '\000' <"$work/out"; echo x)
    out=${out%x}
    err=$(cat "$work/err")
}

# wizen SCRIPT SNAPSHOT: pre-initialises; sets err and rc.
wizen() {
    timeout 60 "$wasmtime" wizer -S cli=y -o "$2" "$module" <"$1" >/dev/null 2>"$work/err"
    rc=$?
    err=$(cat "$work/err")
}

# snap SNAPSHOT [ENV=VALUE...] < body: one request to a snapshot.
snap() {
    local snapshot=$1 envs=()
    shift
    for e in "$@"; do envs+=(--env "$e"); done
    timeout 30 "$wasmtime" run --argv0 route "${envs[@]}" "$snapshot" /wasibin/script/x.js \
        >"$work/out" 2>"$work/err"
    rc=$?
    out=$(tr -d '\000' <"$work/out"; echo x)
    out=${out%x}
    err=$(cat "$work/err")
}

expect_exact() { # NAME WANT
    if [ "$rc" = 0 ] && [ "$out" = "$2" ]; then ok "$1"; else fail "$1" "rc=$rc out=$(printf %q "$out") err=$err"; fi
}
expect_has() { # NAME NEEDLE...
    local name=$1 n
    shift
    for n in "$@"; do
        if [ "$rc" != 0 ] || [[ "$out" != *"$n"* ]]; then
            fail "$name" "rc=$rc lacks $(printf %q "$n") in $(printf %q "$out") err=$err"
            return
        fi
    done
    ok "$name"
}

hello=$root/guest-sdk/examples/quickjs/hello.js
form=$root/guest-sdk/examples/quickjs/form.js
text_head=$'Status: 200 OK\nContent-Type: text/plain; charset=utf-8\n'

# ---------------------------------------------------------------- hello
for mode in plain snap; do
    if [ $mode = snap ]; then
        wizen "$hello" "$work/hello.wasm"
        [ "$rc" = 0 ] && ok "hello pre-initialises" || fail "hello pre-initialises" "$err"
        run() { snap "$work/hello.wasm" "$@"; }
    else
        run() { plain "$hello" "$@"; }
    fi
    run REQUEST_METHOD=GET 'QUERY_STRING=x&name=Ada%20L' </dev/null
    expect_exact "$mode hello ?name" "${text_head}Content-Length: 14"$'\n\nHello, Ada L!\n'
    run REQUEST_METHOD=GET 'HTTP_COOKIE=theme=dark; name=Bob' </dev/null
    expect_exact "$mode hello cookie" "${text_head}Content-Length: 12"$'\n\nHello, Bob!\n'
    run REQUEST_METHOD=GET </dev/null
    expect_exact "$mode hello default" "${text_head}Content-Length: 14"$'\n\nHello, world!\n'
done
# One snapshot, two requests: nothing of the first (or of init) is kept.
snap "$work/hello.wasm" QUERY_STRING=name=One </dev/null
first=$out
snap "$work/hello.wasm" QUERY_STRING=name=Two </dev/null
if [[ "$first" == *"Hello, One!"* && "$out" == *"Hello, Two!"* ]]; then ok "one snapshot, two greetings"; else fail "one snapshot, two greetings" "$first / $out"; fi

# ---------------------------------------------------------------- form
printf 'x=1&firstname=%%3Cscript%%3EAda+L' >"$work/urlencoded"
{
    printf -- '--wasibin-7MA4YWxk\r\nContent-Disposition: form-data; name="firstname"\r\n\r\nAda\r\n'
    printf -- '--wasibin-7MA4YWxk\r\nContent-Disposition: form-data; name="upload"; filename="notes <1>.txt"\r\nContent-Type: application/octet-stream\r\n\r\n'
    printf 'line 1\r\n--not-the-boundary\r\n\000\377\376 end'
    printf -- '\r\n--wasibin-7MA4YWxk--\r\n'
} >"$work/multipart"
wizen "$form" "$work/form.wasm"
[ "$rc" = 0 ] && ok "form pre-initialises" || fail "form pre-initialises" "$err"
for mode in plain snap; do
    if [ $mode = snap ]; then run() { snap "$work/form.wasm" "$@"; }; else run() { plain "$form" "$@"; }; fi
    run REQUEST_METHOD=POST SCRIPT_NAME=/quickjs/form CONTENT_TYPE=application/x-www-form-urlencoded \
        "CONTENT_LENGTH=$(stat -c %s "$work/urlencoded")" <"$work/urlencoded"
    expect_has "$mode form urlencoded" $'Status: 200 OK\nContent-Type: text/html; charset=utf-8\n' \
        $'\nSet-Cookie: firstname=%3Cscript%3EAda%20L; Path=/\n' '<h1>Hello, &lt;script&gt;Ada L!</h1>'
    [[ "$out" == *"<script>"* ]] && fail "$mode form escapes" "$out"
    run REQUEST_METHOD=POST SCRIPT_NAME=/quickjs/form 'CONTENT_TYPE=multipart/form-data; boundary=wasibin-7MA4YWxk' \
        "CONTENT_LENGTH=$(stat -c %s "$work/multipart")" <"$work/multipart"
    expect_has "$mode form multipart" '<h1>Hello, Ada!</h1>' '<p>Received notes &lt;1&gt;.txt: 35 bytes</p>'
    run REQUEST_METHOD=GET SCRIPT_NAME=/quickjs/form HTTP_COOKIE=firstname=Ada%20L </dev/null
    expect_has "$mode form welcome back" '<p>Welcome back, Ada L!</p>' '<form method="post" action="/quickjs/form"'
    printf 'firstname=' >"$work/noname"
    run REQUEST_METHOD=POST SCRIPT_NAME=/quickjs/form \
        CONTENT_TYPE=application/x-www-form-urlencoded CONTENT_LENGTH=10 <"$work/noname"
    expect_exact "$mode form 303" $'Status: 303 See Other\nLocation: /quickjs/form\nContent-Length: 0\n\n'
    run REQUEST_METHOD=PUT SCRIPT_NAME=/quickjs/form </dev/null
    expect_has "$mode form 405" $'Status: 405 Method Not Allowed\n' $'\nAllow: GET, POST\n'
done

# ---------------------------------------------------------------- failures
cat >"$work/classic.js" <<'EOF'
const req = request();
print("Content-Type: text/plain");
print();
write(`classic ${req.query.get("q")}\n`);
EOF
plain "$work/classic.js" QUERY_STRING=q=1 </dev/null
expect_exact "classic script, plain" $'Content-Type: text/plain\n\nclassic 1\n'
wizen "$work/classic.js" "$work/classic.wasm"
if [ "$rc" != 0 ] && [[ "$err" == *"cannot be pre-initialised"* ]]; then ok "classic script refuses init"; else fail "classic script refuses init" "rc=$rc $err"; fi

for src in 'serve((req) => text("x")' 'throw new TypeError("boom at the top")' 'print("Status: 200 OK\n"); null.x;'; do
    printf '%s\n' "$src" >"$work/bad.js"
    plain "$work/bad.js" </dev/null
    if [ "$rc" = 1 ] && [ -z "$out" ] && [[ "$err" == *Uncaught* ]]; then ok "uncaught: $src"; else fail "uncaught: $src" "rc=$rc out=$out err=$err"; fi
done

printf '%s\n' 'serve(() => { throw new Error("inside"); });' >"$work/throws.js"
plain "$work/throws.js" </dev/null
if [ "$rc" = 0 ] && [[ "$out" == "Status: 500 Internal Server Error"* ]] && [[ "$err" == *inside* ]]; then ok "handler exception is a 500"; else fail "handler exception is a 500" "rc=$rc $out $err"; fi
printf '%s\n' 'serve(() => { throw new HttpError(418, "short and stout"); });' >"$work/teapot.js"
plain "$work/teapot.js" </dev/null
expect_exact "HttpError" $'Status: 418 I\'m a teapot\nContent-Type: text/plain; charset=utf-8\nContent-Length: 16\n\nshort and stout\n'
printf '%s\n' 'serve(() => text("a").set("X-Bad", "a\nb"));' >"$work/badheader.js"
plain "$work/badheader.js" </dev/null
if [ "$rc" = 0 ] && [[ "$out" == "Status: 500 "* ]] && [[ "$err" == *X-Bad* ]]; then ok "bad header is a 500"; else fail "bad header is a 500" "$out $err"; fi

for src in 'const t = Date.now(); serve(() => text(t));' 'const r = Math.random(); serve(() => text(r));' \
    'const e = request(); serve(() => text(1));'; do
    printf '%s\n' "$src" >"$work/toplevel.js"
    wizen "$work/toplevel.js" "$work/toplevel.wasm"
    if [ "$rc" != 0 ] && [[ "$err" == *"cannot be pre-initialised"* ]]; then ok "init refuses: $src"; else fail "init refuses: $src" "rc=$rc $err"; fi
done

cat >"$work/fresh.js" <<'EOF'
serve(async (req) => {
  await null;
  const body = new Uint8Array([0, 255, 10, 13]);
  return bytes(body, {
    headers: [["X-Args", req.args.join(",")], ["X-Random", String(Math.random())], ["X-Now", String(Date.now() > 1.7e12)]],
  });
});
EOF
wizen "$work/fresh.js" "$work/fresh.wasm"
timeout 30 "$wasmtime" run --argv0 route --env QUERY_STRING=word "$work/fresh.wasm" /wasibin/script/x.js extra word \
    >"$work/out" 2>"$work/err"
if grep -aq '^X-Args: extra,word$' "$work/out"; then ok "argv read per request"; else fail "argv read per request" "$(cat "$work/out" "$work/err")"; fi
snap "$work/fresh.wasm" </dev/null
r1=$(grep -a X-Random <<<"$out")
snap "$work/fresh.wasm" </dev/null
r2=$(grep -a X-Random <<<"$out")
if [ -n "$r1" ] && [ "$r1" != "$r2" ]; then ok "Math.random reseeded per request"; else fail "Math.random reseeded per request" "$r1 / $r2"; fi
# (bash strings cannot hold NUL: the body's bytes are read from the file.)
tail_bytes=$(tail -c 4 "$work/out" | od -An -tx1 | tr -d ' ')
if [ "$rc" = 0 ] && [[ "$out" == *$'X-Now: true\nContent-Length: 4\n\n'* ]] && [ "$tail_bytes" = 00ff0a0d ]; then
    ok "async handler, binary body, the clock"
else
    fail "async handler, binary body, the clock" "rc=$rc tail=$tail_bytes $(od -c "$work/out" | head -5) $err"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
