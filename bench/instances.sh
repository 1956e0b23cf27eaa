#!/usr/bin/env bash
# What one plugin instance costs, without sockets or HTTP (host/examples/
# instance_cost.rs): a minimal module that writes its answer with one
# fd_write (the engine's floor), the C hello and the Rust hello on the SDK
# (p1 modules), the same Rust hello as a wasi:cli command component, and a
# wasi:http hello component, in one run. Wall time per instance, then, when valgrind is installed,
# instructions per instance from callgrind: the difference between N and 3N
# instances, so compilation and start-up cancel out. Instructions do not
# move with the machine's load; use them to compare changes.
source "$(dirname "$0")/lib.sh"
(cd "$REPO" && cargo build --release -q -p wasibin --example instance_cost)
BIN="$REPO/target/release/examples/instance_cost"
modules=("$BENCH_DIR/fixtures/floor.wat")
for m in hello-c hello hello-p2 hello-http; do
    [ -f "$REPO/plugins/$m.wasm" ] && modules+=("$REPO/plugins/$m.wasm")
done

instructions() {
    INSTANCE_COST_SLOTS=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$BIN" "$1" "$2" 2>&1 | awk '/I *refs:/ {gsub(",", "", $4); print $4}'
}

printf 'module\tus/instance (best of 3 rounds)\tinstructions/instance\n'
for m in "${modules[@]}"; do
    us=$("$BIN" "$m" 20000 | awk '{print $3}' | sort -n | head -1)
    ir="-"
    if command -v valgrind >/dev/null; then
        a=$(instructions "$m" 100)
        b=$(instructions "$m" 300)
        ir=$(((b - a) / 600))
    fi
    printf '%s\t%s\t%s\n' "$(basename "$m")" "$us" "$ir"
done
