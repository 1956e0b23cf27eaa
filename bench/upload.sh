#!/usr/bin/env bash
# A 1 GiB upload to the `digest` plugin (it hashes its stdin as it reads
# it), streamed through the server: prints the time, the server's resident
# memory before and its peak during the upload, and the growth.
# Target: growth < 32 MiB (the body is fed as it arrives, never held).
source "$(dirname "$0")/lib.sh"
build_wasibin
[ -f "$REPO/plugins/digest.wasm" ] || { echo "bench: plugins/digest.wasm was not built" >&2; exit 1; }

SIZE_MIB=${BENCH_UPLOAD_MIB:-1024}
plugins="$OUT/upload-plugins"
mkdir -p "$plugins" "$OUT/empty-site"
cp "$REPO/plugins/digest.wasm" "$plugins/digest.wasm"
printf 'max_body_kb = %d\ntimeout_ms = 600000\n' $((SIZE_MIB * 1024)) >"$plugins/digest.toml"

port=$(free_port)
start_wasibin "$port" "$OUT/empty-site" "$plugins"
rss() { awk "/^$1:/ {print \$2}" "/proc/$WASIBIN_PID/status"; }

curl -s -o /dev/null "http://127.0.0.1:$port/digest" # warm: the pool slot, the first instance
before=$(rss VmRSS)
# A fresh peak from here on (writing 5 to clear_refs resets VmHWM).
echo 5 >"/proc/$WASIBIN_PID/clear_refs" 2>/dev/null || true
# A sparse file of zeros: curl streams it with its Content-Length.
file="$OUT/upload.bin"
truncate -s "${SIZE_MIB}M" "$file"
start=$(date +%s.%N)
answer=$(curl -s -X POST -T "$file" -H 'Content-Type: application/octet-stream' "http://127.0.0.1:$port/digest")
end=$(date +%s.%N)
rm -f "$file"
peak=$(rss VmHWM)
echo "# upload: $SIZE_MIB MiB to /digest, $(nproc) cores"
echo "answer	$answer"
printf 'seconds\t%.1f\nMiB/s\t%.0f\n' "$(echo "$end - $start" | bc)" "$(echo "$SIZE_MIB / ($end - $start)" | bc -l)"
printf 'rss before\t%d KiB\npeak during\t%d KiB\ngrowth\t%d KiB\n' "$before" "$peak" $((peak - before))
