#!/usr/bin/env bash
# The 1M x 128-d memory benchmark: generate a fixed-seed data set with exact
# ground truth, build an index with M = 12 (M0 = 24) (renumbered for
# locality, as `vectrove build` does by default), save it, then measure each
# storage mode in a fresh process: memory after opening and after 10k
# single-thread queries, recall@10 and QPS; the paged mode also reports the
# pages it read and the read system calls it made per query.
#
# A second index is built the same way with `--quantize sq8` (8-bit codes, a
# byte a dimension, 128 MB, resident in every storage mode): its searches
# traverse on the codes and rerank the best candidates with exact distances
# from the vectors, which stay in the file (mmap, paged).
#
#   bash scripts/membench.sh [work-dir]      (default: target/membench)
#   ROUNDS=2 bash scripts/membench.sh        (every mode twice, interleaved:
#                                             the spread shows the noise)
#   EF=32,48,64,96 bash scripts/membench.sh  (the ef values swept; 32,64)
#   QUANTIZE= bash scripts/membench.sh       (no quantised index)
#   SQ8_STORAGE="memory mmap paged" ...      (its storage modes; mmap paged)
#   RERANK=64 bash scripts/membench.sh       (its rerank; default the CLI's)
#
# Needs about 2.2 GB of disk (1.3 GB without the quantised index) and 2 GB
# of RAM; the generation and each build take a few minutes on two cores.
# Existing data and indexes are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-target/membench}
EF=${EF:-32,64}
QUANTIZE=${QUANTIZE-sq8}
SQ8_STORAGE=${SQ8_STORAGE:-mmap paged}
cargo build --release -q -p vectrove-cli
BIN=target/release/vectrove
mkdir -p "$DIR"
if [ ! -f "$DIR/data/groundtruth.ivecs" ]; then
  "$BIN" generate --n 1000000 --dim 128 --queries 10000 --k 10 --metric l2 --seed 7 --output "$DIR/data"
fi
if [ ! -f "$DIR/index.vtrv" ]; then
  "$BIN" build --input "$DIR/data/base.fvecs" --metric l2 --m 12 --ef-construction 100 --seed 7 \
    --output "$DIR/index.vtrv"
fi
"$BIN" info "$DIR/index.vtrv"
QINDEX="$DIR/index-$QUANTIZE.vtrv"
if [ -n "$QUANTIZE" ]; then
  if [ ! -f "$QINDEX" ]; then
    "$BIN" build --input "$DIR/data/base.fvecs" --metric l2 --m 12 --ef-construction 100 --seed 7 \
      --quantize "$QUANTIZE" --output "$QINDEX"
  fi
  "$BIN" info "$QINDEX"
fi
bench() {
  "$BIN" bench --queries "$DIR/data/queries.fvecs" --groundtruth "$DIR/data/groundtruth.ivecs" \
    --k 10 --ef "$EF" --threads 1 --cache-mb 64 "$@"
}
for round in $(seq "${ROUNDS:-1}"); do
  for storage in memory mmap paged; do
    echo
    bench --index "$DIR/index.vtrv" --storage "$storage"
  done
  if [ -n "$QUANTIZE" ]; then
    for storage in $SQ8_STORAGE; do
      echo
      bench --index "$QINDEX" --storage "$storage" --label "$QUANTIZE $storage" \
        ${RERANK:+--rerank "$RERANK"}
    done
  fi
done
