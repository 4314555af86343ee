#!/usr/bin/env bash
# Writes the files the browser tests compile in (target/wasm-fixtures/):
# the first 2,000 debian-384 base vectors and 100 queries, and an HNSW index
# of them built by the native CLI (the golden file the browser must read
# byte for byte and search to the same results), and the same index with
# 8-bit codes (`--quantize sq8`), which the browser searches on its codes.
# Both are built with `--deterministic`, so they hold the same graph (and the
# browser, quantising the first, writes the second byte for byte). Then two
# IVF-Flat indexes of the same vectors, without and with 8-bit codes (whose
# codes a reader over HTTP leaves in the file, fetched per probed list).
#
#   bash scripts/wasm-fixtures.sh [path/to/vectrove]
#
# Without ../shared/data/debian-384 (or VECTROVE_DATA) it fails: the browser
# tests need real data.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DATA=${VECTROVE_DATA:-../shared/data}/debian-384
OUT=target/wasm-fixtures
BIN=${1:-}
if [ -z "$BIN" ]; then
  cargo build -q --release -p vectrove-cli
  BIN=target/release/vectrove
fi
for f in base.fvecs queries.fvecs; do
  [ -r "$DATA/$f" ] || { echo "wasm-fixtures: $DATA/$f is missing" >&2; exit 1; }
done
mkdir -p "$OUT"
# An .fvecs record is a 4-byte dimension then 384 f32 values.
RECORD=$((4 + 384 * 4))
head -c $((2000 * RECORD)) "$DATA/base.fvecs" > "$OUT/debian-2k.fvecs.new"
head -c $((100 * RECORD)) "$DATA/queries.fvecs" > "$OUT/queries-100.fvecs.new"
for f in debian-2k.fvecs queries-100.fvecs; do
  if cmp -s "$OUT/$f.new" "$OUT/$f"; then rm "$OUT/$f.new"; else mv "$OUT/$f.new" "$OUT/$f"; fi
done
"$BIN" build --input "$OUT/debian-2k.fvecs" --metric cosine --m 16 --ef-construction 200 \
  --seed 1 --deterministic --output "$OUT/golden.vtrv.new" > /dev/null
if cmp -s "$OUT/golden.vtrv.new" "$OUT/golden.vtrv"; then rm "$OUT/golden.vtrv.new"; else mv "$OUT/golden.vtrv.new" "$OUT/golden.vtrv"; fi
"$BIN" build --input "$OUT/debian-2k.fvecs" --metric cosine --m 16 --ef-construction 200 \
  --seed 1 --deterministic --quantize sq8 --output "$OUT/golden-sq8.vtrv.new" > /dev/null
if cmp -s "$OUT/golden-sq8.vtrv.new" "$OUT/golden-sq8.vtrv"; then rm "$OUT/golden-sq8.vtrv.new"; else mv "$OUT/golden-sq8.vtrv.new" "$OUT/golden-sq8.vtrv"; fi
for q in "" sq8; do
  name=golden-ivf${q:+-$q}.vtrv
  "$BIN" build --input "$OUT/debian-2k.fvecs" --index-type ivf --metric cosine --seed 1 \
    ${q:+--quantize $q} --output "$OUT/$name.new" > /dev/null
  if cmp -s "$OUT/$name.new" "$OUT/$name"; then rm "$OUT/$name.new"; else mv "$OUT/$name.new" "$OUT/$name"; fi
done
# The native top-10 at ef 64, for the golden comparisons (on codes: the
# default rerank).
"$BIN" search --index "$OUT/golden.vtrv" --queries "$OUT/queries-100.fvecs" --k 10 --ef 64 \
  --threads 1 --output "$OUT/golden-top10.ivecs" > /dev/null
"$BIN" search --index "$OUT/golden-sq8.vtrv" --queries "$OUT/queries-100.fvecs" --k 10 --ef 64 \
  --threads 1 --output "$OUT/golden-sq8-top10.ivecs" > /dev/null
ls -l "$OUT"
