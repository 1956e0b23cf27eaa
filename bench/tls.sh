#!/usr/bin/env bash
# HTTPS, wasibin (rustls) against nginx (OpenSSL) in one run: a 1 KiB file
# over keep-alive connections. (wrk's Connection: close over TLS gave more
# req/s than keep-alive for both servers: it does not measure handshakes, so
# that row is left out.) The same self-signed P-256 certificate for both, made here
# with openssl. Prints req/s, p99 and server CPU per request, and the ratios.
# Target: >= 1.0x nginx for 1 KiB over keep-alive.
source "$(dirname "$0")/lib.sh"
need wrk wrk
need nginx nginx-light
need openssl openssl
build_wasibin

site="$OUT/site"
mkdir -p "$site"
head -c 1024 /dev/urandom >"$site/1k.bin"
empty_plugins="$OUT/no-plugins"
mkdir -p "$empty_plugins"
tls="$OUT/tls"
mkdir -p "$tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -keyout "$tls/key.pem" -out "$tls/cert.pem" 2>/dev/null

wport=$(free_port)
start_wasibin "$wport" "$site" "$empty_plugins" --tls-cert "$tls/cert.pem" --tls-key "$tls/key.pem"

nport=$(free_port)
start_nginx "$nport" "$site" "$tls"
sleep 0.3
nginx_pids=$(tree_pids "$NGINX_MASTER")

echo "# https: ${DURATION}s per run, $CONNS connections, wrk -t$THREADS, $(nproc) cores"
printf 'case\tserver\treq/s\tp99 ms\tcpu us/req\tfaults/req\tclient cores\terrors\n'
w=$(measure "wasibin-tls-1k" "https://localhost:$wport/1k.bin" "$WASIBIN_PID")
n=$(measure "nginx-tls-1k" "https://localhost:$nport/1k.bin" $nginx_pids)
printf '%s\t%s\n' "1k" "$w" "1k" "$n"
echo "1k	ratio	$(ratio "$(cut -f2 <<<"$w")" "$(cut -f2 <<<"$n")")x req/s	p99 $(cut -f3 <<<"$w") vs $(cut -f3 <<<"$n") ms	cpu $(cut -f4 <<<"$w") vs $(cut -f4 <<<"$n") us"
