#!/usr/bin/env bash
# HTTPS, wasibin (rustls) against nginx (OpenSSL) in one run: a 1 KiB file
# over keep-alive connections, then with a new connection (and handshake)
# per request. The same self-signed P-256 certificate for both, made here
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
conf="$OUT/nginx-tls-$nport"
mkdir -p "$conf"
cat >"$conf/nginx.conf" <<CONF
worker_processes auto;
pid $conf/nginx.pid;
error_log $conf/error.log warn;
events { worker_connections 4096; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    client_body_temp_path $conf/body;
    proxy_temp_path $conf/proxy;
    fastcgi_temp_path $conf/fastcgi;
    uwsgi_temp_path $conf/uwsgi;
    scgi_temp_path $conf/scgi;
    server {
        listen 127.0.0.1:$nport ssl;
        ssl_certificate $tls/cert.pem;
        ssl_certificate_key $tls/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $site;
    }
}
CONF
nginx -c "$conf/nginx.conf" -g 'daemon off;' >"$conf/stdout.log" 2>&1 &
NGINX_MASTER=$!
PIDS+=("$NGINX_MASTER")
wait_port "$nport"
sleep 0.3
nginx_pids=$(tree_pids "$NGINX_MASTER")

echo "# https: ${DURATION}s per run, $CONNS connections, wrk -t$THREADS, $(nproc) cores"
printf 'case\tserver\treq/s\tp99 ms\tcpu us/req\terrors\n'
w=$(measure "wasibin-tls-1k" "https://localhost:$wport/1k.bin" "$WASIBIN_PID")
n=$(measure "nginx-tls-1k" "https://localhost:$nport/1k.bin" $nginx_pids)
printf '%s\t%s\n' "1k" "$w" "1k" "$n"
echo "1k	ratio	$(ratio "$(cut -f2 <<<"$w")" "$(cut -f2 <<<"$n")")x req/s	p99 $(cut -f3 <<<"$w") vs $(cut -f3 <<<"$n") ms	cpu $(cut -f4 <<<"$w") vs $(cut -f4 <<<"$n") us"

# A handshake per request: the cost of key exchange and signing.
WRK_ARGS="-H Connection:close"
w=$(measure "wasibin-tls-1k-close" "https://localhost:$wport/1k.bin" "$WASIBIN_PID")
n=$(measure "nginx-tls-1k-close" "https://localhost:$nport/1k.bin" $nginx_pids)
unset WRK_ARGS
printf '%s\t%s\n' "1k-close" "$w" "1k-close" "$n"
echo "1k-close	ratio	$(ratio "$(cut -f2 <<<"$w")" "$(cut -f2 <<<"$n")")x req/s	p99 $(cut -f3 <<<"$w") vs $(cut -f3 <<<"$n") ms	cpu $(cut -f4 <<<"$w") vs $(cut -f4 <<<"$n") us"
