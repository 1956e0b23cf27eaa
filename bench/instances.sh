#!/usr/bin/env bash
# What one plugin instance costs, without sockets or HTTP (host/examples/
# instance_cost.rs): a minimal module that writes its answer with one
# fd_write (the engine's floor), the C hello and the Rust hello on the SDK
# (p1 modules), the same Rust hello as a wasi:cli command component, and a
# wasi:http hello component, and the JavaScript hello script under the
# built-in QuickJS interpreter, plain (parsed per request) and
# pre-initialised (from its snapshot), in one run. Wall time per instance, then, when valgrind is installed,
# instructions per instance from callgrind: the difference between N and 3N
# instances, so compilation and start-up cancel out. Instructions do not
# move with the machine's load; use them to compare changes.
#
#   bench/instances.sh              # the example plugins, as above
#   bench/instances.sh --languages  # every SDK language's hello, built by
#                                   # guest-sdk/build-examples.sh (the
#                                   # table in guest-sdk/README.md)
source "$(dirname "$0")/lib.sh"
(cd "$REPO" && cargo build --release -q -p wasibin --example instance_cost)
BIN="$REPO/target/release/examples/instance_cost"
modules=("$BENCH_DIR/fixtures/floor.wat")
for m in hello-c hello hello-p2 hello-http; do
    [ -f "$REPO/plugins/$m.wasm" ] && modules+=("$REPO/plugins/$m.wasm")
done

QUICKJS="$REPO/target/interpreters/wasm32-wasip1/release/quickjs.wasm"
SCRIPT="$REPO/guest-sdk/examples/quickjs/hello.js"

# instructions MODULE N [SCRIPT [plain]]: counted only inside the tokio
# runtime's block_on, where the instances run. Counting the whole process
# also counted the epoch ticker thread, whose work grows with the run's wall
# time, and the compiler's threads: the same module moved by 2-3k
# instructions per instance from one run to the next; counted this way, by
# under 0.2k.
instructions() {
    local m=$1 n=$2
    shift 2
    INSTANCE_COST_SLOTS=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        --toggle-collect='tokio::runtime::runtime::Runtime::block_on*' \
        "$BIN" "$m" "$n" "$@" 2>&1 | awk '/I *refs:/ {gsub(",", "", $4); print $4}'
}

# row LABEL N K MODULE [SCRIPT [plain]]: N instances per timed round, K
# and 3K per round under callgrind (3 rounds each: 6K instances apart).
row() {
    local label=$1 n=$2 k=$3 m=$4
    shift 4
    us=$("$BIN" "$m" "$n" "$@" | awk '{print $3}' | sort -n | head -1)
    ir="-"
    if command -v valgrind >/dev/null; then
        a=$(instructions "$m" "$k" "$@")
        b=$(instructions "$m" $((3 * k)) "$@")
        ir=$(((b - a) / (6 * k)))
    fi
    printf '%s\t%s\t%s\n' "$label" "$us" "$ir"
}

printf 'module\tus/instance (best of 3 rounds)\tinstructions/instance\n'
if [ "${1:-}" = --languages ]; then
    examples="$OUT/examples"
    bash "$REPO/guest-sdk/build-examples.sh" "$examples" 2>/dev/null
    for lang in rust c cpp zig assemblyscript go python js; do
        m="$examples/$lang/hello.wasm"
        # CPython and SpiderMonkey take seconds per instance under callgrind.
        k=10
        case $lang in python | js) k=2 ;; esac
        if [ -f "$m" ]; then
            row "$lang" 1000 "$k" "$m"
        else
            printf '%s\t-\t- (not built: its toolchain is missing)\n' "$lang"
        fi
    done
    row "quickjs script, plain" 1000 10 "$QUICKJS" "$examples/quickjs/hello.js" plain
    row "quickjs script, pre-initialised" 1000 10 "$QUICKJS" "$examples/quickjs/hello.js"
    exit 0
fi
for m in "${modules[@]}"; do
    row "$(basename "$m")" 20000 100 "$m"
done
if [ -f "$QUICKJS" ]; then
    row "hello.js (quickjs, plain)" 2000 10 "$QUICKJS" "$SCRIPT" plain
    row "hello.js (quickjs, pre-initialised)" 20000 100 "$QUICKJS" "$SCRIPT"
fi
