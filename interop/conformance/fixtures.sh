#!/usr/bin/env bash
# Extract the gateway-conformance fixtures and classify them.
#
#   fixtures.sh [DIR]      DIR default: $INTEROP_CACHE/fixtures/<version>
#
# Produces:
#   DIR/all/        every fixture, flattened and renamed <name>_<i>.<ext> by the tool
#                   (*.car, *.ipns-record, *.yml, dnslinks.json, dnslinks.IPFS_NS_MAP)
#   DIR/merged/fixtures.car   all CAR fixtures merged into one CARv1 (tool's --merged)
#   DIR/cars.txt    absolute paths of the CAR files (what our gateway must import)
#   DIR/ipns.txt    IPNS records (<name>[_suffix]_<i>.ipns-record)
#   DIR/ipns-keys.tsv  "<ipns-name>\t<record file>" (Kubo: ipfs routing put --allow-offline /ipns/<name> <file>)
#   DIR/dnslink.txt DNSLink definitions (yml + merged json / IPFS_NS_MAP)
#   DIR/other.txt   anything else
# Last stdout line: "fixtures: N car, M ipns-record, K dnslink, L other in DIR"
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
CACHE="${INTEROP_CACHE:-$HOME/.cache/crust-interop}"
"$here/install.sh" >/dev/null
# shellcheck disable=SC1091
. "$CACHE/conformance.env"
ver="$(cat "$(dirname "$GATEWAY_CONFORMANCE_BIN")/.gateway-conformance.version")"
DIR="${1:-$CACHE/fixtures/$ver}"

rm -rf "$DIR/all" "$DIR/merged"
mkdir -p "$DIR"
"$GATEWAY_CONFORMANCE_BIN" extract-fixtures --directory "$DIR/all" > "$DIR/extract.log" 2>&1
"$GATEWAY_CONFORMANCE_BIN" extract-fixtures --directory "$DIR/merged" --merged --ipns=false --dnslink=false >> "$DIR/extract.log" 2>&1

find "$DIR/all" -type f -name '*.car' | sort > "$DIR/cars.txt"
find "$DIR/all" -type f -name '*.ipns-record' | sort > "$DIR/ipns.txt"
find "$DIR/all" -type f \( -name '*.yml' -o -name 'dnslinks.json' -o -name 'dnslinks.IPFS_NS_MAP' \) | sort > "$DIR/dnslink.txt"
find "$DIR/all" -type f ! -name '*.car' ! -name '*.ipns-record' ! -name '*.yml' \
     ! -name 'dnslinks.json' ! -name 'dnslinks.IPFS_NS_MAP' | sort > "$DIR/other.txt"

# IPNS name -> record file (name = basename up to the first "_", as Kubo's CI does before
# `ipfs routing put --allow-offline /ipns/<name> <file>`)
while read -r f; do
  [ -n "$f" ] && printf '%s\t%s\n' "$(basename "$f" .ipns-record | cut -d_ -f1)" "$f"
done < "$DIR/ipns.txt" > "$DIR/ipns-keys.tsv"

for k in cars ipns dnslink other; do
  echo "== $k ($(wc -l < "$DIR/$k.txt"))"
  while read -r f; do
    [ -n "$f" ] && printf '  %-90s %7d B\n' "${f#"$DIR"/}" "$(stat -c %s "$f")"
  done < "$DIR/$k.txt"
done
echo "merged CAR: $DIR/merged/fixtures.car ($(stat -c %s "$DIR/merged/fixtures.car") B)"
echo "fixtures: $(wc -l < "$DIR/cars.txt") car, $(wc -l < "$DIR/ipns.txt") ipns-record, $(wc -l < "$DIR/dnslink.txt") dnslink, $(wc -l < "$DIR/other.txt") other in $DIR"
