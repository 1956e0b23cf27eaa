#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, one after
# another, niced (the machine's cores are shared), and prints one summary
# line per target: executions, coverage (libFuzzer's cov/ft), corpus size.
#
#   fuzz/run-all.sh 300                 # every target, 5 minutes each
#   fuzz/run-all.sh 60 request_head     # one target, a minute
#
# Needs the nightly toolchain and cargo-fuzz (.ci/install-deps installs
# it). The seeds in fuzz/corpus/TARGET (taken from the tests) stay as they
# are; what the fuzzer finds goes to fuzz/out/corpus/TARGET, logs to
# fuzz/out/TARGET.log, crashes to fuzz/artifacts/TARGET. Exits 1 when any
# target crashed. FUZZ_SANITIZER=address turns on ASan (default none: the
# parsers are safe Rust, and uninstrumented runs execute ~2x more inputs).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:?usage: fuzz/run-all.sh SECONDS [TARGET...]}
shift
# The library alone: host/build.rs skips the example plugins, which need
# wasm targets the nightly toolchain may not have.
export WASIBIN_SKIP_EXAMPLES=1
sanitizer=${FUZZ_SANITIZER:-none}
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
# One build, then the binaries run directly: a source change during the
# campaign cannot start a rebuild between two targets.
unset CARGO_TARGET_DIR
nice cargo +nightly fuzz build --sanitizer "$sanitizer"
bin=target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release
mkdir -p out
crashed=0
for target in "${targets[@]}"; do
    mkdir -p "out/corpus/$target" "corpus/$target"
    log="out/$target.log"
    status=0
    mkdir -p "artifacts/$target"
    nice "$bin/$target" "out/corpus/$target" "corpus/$target" \
        -artifact_prefix="artifacts/$target/" -max_total_time="$secs" \
        -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        >"$log" 2>&1 || status=$?
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*$' || echo '?')
    ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*$' || echo '?')
    corp=$(grep -o 'corp: [0-9]*/[0-9a-zA-Z]*' <<<"$last" | cut -d' ' -f2 || echo '?')
    verdict=ok
    if [ "$status" -ne 0 ]; then
        verdict="CRASHED (status $status; see $log and artifacts/$target)"
        crashed=1
    fi
    printf '%-24s %ss  execs %-12s cov %-6s ft %-7s corpus %-10s %s\n' \
        "$target" "$secs" "$execs" "$cov" "$ft" "$corp" "$verdict"
done
exit "$crashed"
