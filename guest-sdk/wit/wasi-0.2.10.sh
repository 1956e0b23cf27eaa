#!/usr/bin/env bash
# Writes OUT_DIR: this folder's WIT relabelled WASI 0.2.10, for
# componentize-js 0.23.0, whose StarlingMonkey engine is built against
# 0.2.10 and refuses a world of another version ("failed to find export of
# interface wasi:http/incoming-handler@0.2.12"). The repo keeps one copy of
# the WIT (0.2.12); this derives the other:
#   - every 0.2.12 becomes 0.2.10;
#   - cli's exit-with-code, stable since 0.2.12, goes back behind
#     @unstable(feature = cli-exit-with-code), as it was in 0.2.10.
# Nothing else differs between 0.2.10 and 0.2.12 in these files; the script
# stops if that stops being true (a newer deps/ must be looked at again).
#
#   guest-sdk/wit/wasi-0.2.10.sh OUT_DIR
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: wasi-0.2.10.sh OUT_DIR}

since=$(cat "$src"/world.wit "$src"/deps/*.wit | grep -c '@since(version = 0\.2\.1[0-9])' || true)
if [ "$since" != 1 ] || ! grep -q '@since(version = 0\.2\.12)' "$src/deps/cli.wit"; then
    echo "wasi-0.2.10.sh: expected exactly one @since(version = 0.2.1x) (cli's exit-with-code at 0.2.12), found $since" >&2
    exit 1
fi

tmp=$(mktemp -d "${out%/}.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/deps"
relabel() {
    sed -e 's/@since(version = 0\.2\.12)/@unstable(feature = cli-exit-with-code)/' \
        -e 's/0\.2\.12/0.2.10/g' "$1" >"$2"
}
relabel "$src/world.wit" "$tmp/world.wit"
for f in "$src"/deps/*.wit; do
    relabel "$f" "$tmp/deps/$(basename "$f")"
done
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
