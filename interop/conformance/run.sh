#!/usr/bin/env bash
# Run the IPFS gateway-conformance suite (trustless-gateway + path-gateway) against a gateway.
#
#   run.sh GATEWAY_URL OUTDIR [-- GO_TEST_ARGS...]
#
#   GATEWAY_URL   e.g. http://127.0.0.1:8080 (fixtures must already be imported, see fixtures.sh)
#   OUTDIR        receives:
#                   conformance.json  raw report (go test2json NDJSON, from --json-output)
#                   conformance.log   stdout/stderr of gateway-conformance
#                   summary.txt       SPEC/PRESET/FUNC/FAIL/TOTAL lines + final line
#                   summary.json      same data as JSON
#                   failures.txt      failing test cases with their failing checks' "Error:" lines
#   GO_TEST_ARGS  passed to `go test` after -count=1 (default: -timeout 10m),
#                 e.g. -- -timeout 5m -run 'TestTrustless.*'
#
# Environment:
#   CONFORMANCE_SPECS   value for --specs (default: trustless-gateway,path-gateway). An explicit list
#                       disables everything else (subdomain-gateway, dnslink-gateway, redirects-file,
#                       proxy-gateway), so no --subdomain-url is needed. Opt out of features with
#                       "-preset", e.g. trustless-gateway,path-gateway,-trustless-ipns-gateway,-path-ipns-gateway
#   CONFORMANCE_STRICT=1  exit 1 when any test failed (default: exit 0 once a summary is written)
#   INTEROP_CACHE       see install.sh
# Exit: 0 ok (or failures without STRICT), 1 failures with STRICT, 2 harness error / bad usage.
# Prints as last line: conformance: N passed, M failed, K skipped
set -uo pipefail
if [ $# -lt 2 ]; then
  sed -n '2,23p' "$0" >&2
  exit 2
fi
URL="${1%/}"; OUTDIR="$2"; shift 2
if [ "${1:-}" = "--" ]; then shift; fi
GO_TEST_ARGS=("$@")
[ ${#GO_TEST_ARGS[@]} -eq 0 ] && GO_TEST_ARGS=(-timeout 10m)
GO_TEST_ARGS=(-count=1 "${GO_TEST_ARGS[@]}")   # never replay cached `go test` results
CSPECS="${CONFORMANCE_SPECS:-trustless-gateway,path-gateway}"

here="$(cd "$(dirname "$0")" && pwd)"
CACHE="${INTEROP_CACHE:-$HOME/.cache/crust-interop}"
"$here/install.sh" >/dev/null || { echo "run.sh: install.sh failed" >&2; exit 2; }
# shellcheck disable=SC1091
. "$CACHE/conformance.env"
export GOPROXY=off            # everything is in GOMODCACHE; never touch the network
unset SPECS SUBDOMAIN_GATEWAY_URL GATEWAY_URL

mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
rm -f "$OUTDIR"/{conformance.json,conformance.log,summary.txt,summary.json,failures.txt}

code="$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$URL/ipfs/bafkqaaa?format=raw" 2>/dev/null)"
if [ "$code" = "000" ]; then
  echo "run.sh: warning: $URL is not answering (probe GET /ipfs/bafkqaaa?format=raw)" >&2
fi

echo "run.sh: $GATEWAY_CONFORMANCE_BIN test --gateway-url $URL --specs $CSPECS --json-output $OUTDIR/conformance.json -- ${GO_TEST_ARGS[*]}" >&2
start=$(date +%s)
"$GATEWAY_CONFORMANCE_BIN" test \
  --gateway-url "$URL" \
  --specs "$CSPECS" \
  --json-output "$OUTDIR/conformance.json" \
  -- "${GO_TEST_ARGS[@]}" > "$OUTDIR/conformance.log" 2>&1
rc=$?
echo "run.sh: gateway-conformance exited $rc after $(( $(date +%s) - start ))s (1 = some test failed)" >&2

if [ ! -s "$OUTDIR/conformance.json" ]; then
  echo "run.sh: no JSON report produced; see $OUTDIR/conformance.log:" >&2
  tail -20 "$OUTDIR/conformance.log" >&2
  exit 2
fi
python3 "$here/summarize.py" "$OUTDIR/conformance.json" "$GATEWAY_CONFORMANCE_HOME" "$OUTDIR" "$CSPECS" \
  > "$OUTDIR/.final" || { s=$?; cat "$OUTDIR/.final"; tail -20 "$OUTDIR/conformance.log" >&2; exit 2; }
grep -E '^(SPEC (trustless|path)-gateway|TOTAL)' "$OUTDIR/summary.txt" >&2
echo "run.sh: details in $OUTDIR/summary.txt and $OUTDIR/failures.txt" >&2
final="$(tail -1 "$OUTDIR/.final")"; rm -f "$OUTDIR/.final"
echo "$final"
if [ "${CONFORMANCE_STRICT:-0}" = 1 ] && ! grep -q ' 0 failed' <<<"$final"; then exit 1; fi
exit 0
