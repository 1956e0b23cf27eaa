#!/usr/bin/env bash
# Static files, wasibin against nginx, one load generator, one run:
# the same 1 KiB, 100 KiB and 1 MiB files over keep-alive connections.
# Prints req/s, p99, server CPU per request and the client's CPU, and the
# wasibin/nginx ratios. Where server and client together use both cores (the
# 1 MiB row), req/s follows the scheduler's split of the machine between
# them from run to run; server CPU per request is the ratio that holds.
# Targets: >= 1.2x nginx for 1 KiB, >= 1.0x for 100 KiB and 1 MiB (and for
# 1 KiB with a new connection per request),
# p99 no worse than nginx.
source "$(dirname "$0")/lib.sh"
need wrk wrk
need nginx nginx-light
build_wasibin

site="$OUT/site"
mkdir -p "$site"
head -c 1024 /dev/urandom >"$site/1k.bin"
head -c $((100 * 1024)) /dev/urandom >"$site/100k.bin"
head -c $((1024 * 1024)) /dev/urandom >"$site/1m.bin"
empty_plugins="$OUT/no-plugins"
mkdir -p "$empty_plugins"

wport=$(free_port)
start_wasibin "$wport" "$site" "$empty_plugins"
nport=$(free_port)
start_nginx "$nport" "$site"
sleep 0.3
nginx_pids=$(tree_pids "$NGINX_MASTER")

echo "# static files: ${DURATION}s per run, $CONNS connections, wrk -t$THREADS, $(nproc) cores"
printf 'file\tserver\treq/s\tp99 ms\tcpu us/req\tfaults/req\tclient cores\terrors\n'
for f in ${BENCH_FILES:-1k 100k 1m}; do
    w=$(measure "wasibin-$f" "http://127.0.0.1:$wport/$f.bin" "$WASIBIN_PID")
    n=$(measure "nginx-$f" "http://127.0.0.1:$nport/$f.bin" $nginx_pids)
    printf '%s\t%s\n' "$f" "$w"
    printf '%s\t%s\n' "$f" "$n"
    wr=$(cut -f2 <<<"$w"); nr=$(cut -f2 <<<"$n")
    wp=$(cut -f3 <<<"$w"); np=$(cut -f3 <<<"$n")
    wc=$(cut -f4 <<<"$w"); nc=$(cut -f4 <<<"$n")
    echo "$f	ratio	$(ratio "$wr" "$nr")x req/s	p99 $wp vs $np ms	cpu $(ratio "$wc" "$nc")x ($wc vs $nc us)"
done

# A new connection per request (Connection: close), as old clients and
# health checkers do: the cost of accept, the first read and the close.
# Target: >= 1.0x nginx.
WRK_ARGS="-s $BENCH_DIR/fixtures/close.lua"
w=$(measure "wasibin-1k-close" "http://127.0.0.1:$wport/1k.bin" "$WASIBIN_PID")
n=$(measure "nginx-1k-close" "http://127.0.0.1:$nport/1k.bin" $nginx_pids)
unset WRK_ARGS
printf '%s\t%s\n' "1k-close" "$w"
printf '%s\t%s\n' "1k-close" "$n"
echo "1k-close	ratio	$(ratio "$(cut -f2 <<<"$w")" "$(cut -f2 <<<"$n")")x req/s	p99 $(cut -f3 <<<"$w") vs $(cut -f3 <<<"$n") ms"
