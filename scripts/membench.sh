#!/usr/bin/env bash
# The 1M x 128-d memory benchmark: generate a fixed-seed data set with exact
# ground truth, build an index with M = 12 (M0 = 24) (renumbered for
# locality, as `vectrove build` does by default), save it, then measure each
# storage mode in a fresh process: memory after opening and after 10k
# single-thread queries, recall@10 and QPS; the paged mode also reports the
# pages it read and the read system calls it made per query.
#
#   bash scripts/membench.sh [work-dir]      (default: target/membench)
#   ROUNDS=2 bash scripts/membench.sh        (every mode twice, interleaved:
#                                             the spread shows the noise)
#
# Needs about 1.5 GB of disk and 2 GB of RAM; the generation and the build
# take a few minutes on two cores. Existing data and index are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-target/membench}
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
for round in $(seq "${ROUNDS:-1}"); do
  for storage in memory mmap paged; do
    echo
    "$BIN" bench --index "$DIR/index.vtrv" --queries "$DIR/data/queries.fvecs" \
      --groundtruth "$DIR/data/groundtruth.ivecs" --k 10 --ef 32,64 --threads 1 \
      --storage "$storage" --cache-mb 64
  done
done
