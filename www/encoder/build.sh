#!/usr/bin/env bash
# Compiles the demo's sentence encoder (this crate: candle and tokenizers) to wasm32 and
# writes its ES module and .wasm with wasm-bindgen into a directory:
#
#   bash www/encoder/build.sh <out dir>
#
# The crate is its own workspace with its own target directory (target/www-encoder), so
# the library's builds and tests never compile candle. A build takes minutes (candle,
# whole-program optimised), so its output is kept in $VECTROVE_DEMO_CACHE (default
# ~/.cache/vectrove-demo) under a hash of everything it is made from: the crate's files,
# the Rust compiler and the wasm-bindgen CLI. The same inputs are copied from there.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:?usage: bash www/encoder/build.sh <out dir>}
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
CACHE=${VECTROVE_DEMO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vectrove-demo}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/www-encoder

KEY=$( (cd "$HERE" && cat Cargo.toml Cargo.lock build.sh src/*.rs "$ROOT/.cargo/config.toml" &&
        rustc -vV && wasm-bindgen --version) | sha256sum | cut -c1-16)
KEPT=$CACHE/encoder-$KEY
if [ -f "$OUT/.key" ] && [ "$(cat "$OUT/.key")" = "$KEY" ]; then
  echo "==> the encoder in $OUT is up to date"
  exit 0
fi
if [ ! -f "$KEPT/.key" ]; then
  echo "==> cargo build: the encoder (www/encoder) for wasm32, whole-program optimised"
  (cd "$HERE" && CARGO_TARGET_DIR=$TARGET cargo build -q --locked --release --target wasm32-unknown-unknown)
  rm -rf "$KEPT.new"
  mkdir -p "$CACHE"
  wasm-bindgen --target web --out-dir "$KEPT.new" "$TARGET/wasm32-unknown-unknown/release/vectrove_demo_encoder.wasm"
  echo "$KEY" >"$KEPT.new/.key"
  rm -rf "$KEPT"
  mv "$KEPT.new" "$KEPT"
  # Earlier builds' outputs are of no more use.
  find "$CACHE" -maxdepth 1 -name 'encoder-*' ! -name "encoder-$KEY" -exec rm -rf {} +
else
  echo "==> the encoder from $KEPT"
fi
rm -rf "$OUT"
mkdir -p "$(dirname "$OUT")"
cp -r "$KEPT" "$OUT"
echo "==> encoder: $(wc -c <"$OUT/vectrove_demo_encoder_bg.wasm") bytes of wasm"
