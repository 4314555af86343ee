#!/usr/bin/env bash
# Benchmark of indexes searched in place over HTTP (range requests), natively and in headless
# Chromium, against a loopback server that adds a fixed latency to every request:
#
#   bash scripts/remotebench.sh [DIR]        # default target/remote-bench
#
# Data: 1M x 128 vectors generated with seed 7 (the memory benchmark's set, reused from
# target/membench/data when it is there), 10,000 queries with their exact top 10. Indexes:
# IVF with sq8 codes (nlist = 4 * sqrt(n) = 4000) and HNSW with sq8 codes (M = 12,
# ef_construction = 100; about ten minutes on two cores). Environment: LATENCY (ms, default 30), COLD (cold queries, default 50),
# QUERIES (cached pass, default 1000), NPROBE (default 2,4), EF (default 32,64).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-target/remote-bench}
LATENCY=${LATENCY:-30}
cargo build --release -q -p vectrove-cli
BIN=target/release/vectrove
mkdir -p "$DIR"
if [ ! -f "$DIR/data/groundtruth.ivecs" ]; then
  if [ -f target/membench/data/groundtruth.ivecs ] && [ "$DIR" != target/membench ]; then
    ln -sfn "$(cd target/membench/data && pwd)" "$DIR/data"
  else
    "$BIN" generate --n 1000000 --dim 128 --queries 10000 --k 10 --metric l2 --seed 7 --output "$DIR/data"
  fi
fi
if [ ! -f "$DIR/ivf-sq8.vtrv" ]; then
  "$BIN" build --input "$DIR/data/base.fvecs" --metric l2 --index-type ivf --quantize sq8 --seed 7 \
    --output "$DIR/ivf-sq8.vtrv"
fi
if [ ! -f "$DIR/hnsw-sq8.vtrv" ]; then
  "$BIN" build --input "$DIR/data/base.fvecs" --metric l2 --m 12 --ef-construction 100 --seed 7 \
    --quantize sq8 --output "$DIR/hnsw-sq8.vtrv"
fi
"$BIN" info "$DIR/ivf-sq8.vtrv"
"$BIN" info "$DIR/hnsw-sq8.vtrv"
bash scripts/build-npm.sh --if-stale
if [ ! -d benches/browser/node_modules/playwright-core ]; then
  (cd benches/browser && npm ci --no-audit --no-fund)
fi
node benches/browser/remote.mjs --dir "$DIR" --latency "$LATENCY" --cold "${COLD:-50}" \
  --queries "${QUERIES:-1000}" --nprobe "${NPROBE:-2,4}" --ef "${EF:-32,64}" --native "$BIN"
