#!/usr/bin/env bash
# Builds the demo, then serves it on http://127.0.0.1:8080/ (Ctrl-C stops it):
#
#   bash www/demo.sh [--port N] [--build-only]
#
# 1. the vectrove CLI (cargo, release) builds the HNSW index of the committed vectors in
#    www/data/ into www/public/index/, with a manifest naming its size and SHA-256;
# 2. scripts/build-npm.sh builds the npm package into wasm/pkg/ (when it is stale);
# 3. npm installs this directory's dependencies (when stale) and Vite builds www/dist/;
# 4. server.mjs serves www/dist/ on 127.0.0.1.
#
# VECTROVE_BIN=path/to/vectrove uses that CLI instead of building one (the index is the
# same whatever the build: construction is deterministic for a seed).
#
# Needs what scripts/test.sh installs: Rust with the wasm32-unknown-unknown target, the
# wasm-bindgen CLI of Cargo.lock's version, and Node.js.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

PORT=8080
SERVE=1
while [ $# -gt 0 ]; do
  case $1 in
    --port) PORT=${2:?--port needs a number}; shift 2 ;;
    --build-only) SERVE=0; shift ;;
    *) echo "usage: bash www/demo.sh [--port N] [--build-only]" >&2; exit 2 ;;
  esac
done

step() { printf '==> %s\n' "$*"; }

cd "$ROOT"
BIN=${VECTROVE_BIN:-}
if [ -z "$BIN" ]; then
  step "cargo build --release -p vectrove-cli"
  cargo build -q --release -p vectrove-cli
  BIN=$ROOT/target/release/vectrove
fi

DATA=$HERE/data/debian-10k.fvecs
OUT=$HERE/public/index
INDEX=$OUT/debian-10k.vtrv
mkdir -p "$OUT"
if [ ! -f "$INDEX" ] || [ "$DATA" -nt "$INDEX" ] || [ "$BIN" -nt "$INDEX" ] || [ ! -f "$OUT/manifest.json" ]; then
  step "vectrove build: the HNSW index of www/data/debian-10k.fvecs"
  rm -f "$OUT/manifest.json"
  "$BIN" build --input "$DATA" --metric cosine --m 16 --ef-construction 200 --seed 1 \
    --output "$INDEX.new"
  mv "$INDEX.new" "$INDEX"
  # The manifest: what `vectrove info` says of the file (which checks every checksum),
  # and its SHA-256, which names the copy the browser stores.
  "$BIN" info --json "$INDEX" | node -e '
    const { createHash } = require("crypto");
    const fs = require("fs");
    const [file, out] = process.argv.slice(1);
    let text = "";
    process.stdin.on("data", (d) => (text += d)).on("end", () => {
      const info = JSON.parse(text);
      const manifest = {
        file: require("path").basename(file),
        bytes: info.file_bytes,
        sha256: createHash("sha256").update(fs.readFileSync(file)).digest("hex"),
        count: info.points,
        dim: info.dim,
        metric: info.metric,
        m: info.m,
        efConstruction: info.ef_construction,
      };
      fs.writeFileSync(out, JSON.stringify(manifest, null, 2) + "\n");
    });
  ' "$INDEX" "$OUT/manifest.json"
else
  step "the index in www/public/index is up to date"
fi

bash "$ROOT/scripts/build-npm.sh" --if-stale
bash "$ROOT/scripts/npm-deps.sh" "$HERE"
step "vite build (www/dist)"
(cd "$HERE" && node_modules/.bin/vite build)

if [ "$SERVE" = 1 ]; then
  exec node "$HERE/server.mjs" --port "$PORT"
fi
