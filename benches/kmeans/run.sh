#!/usr/bin/env bash
# vectrove's k-means against faiss's on the same data, same machine, one
# after the other (interleaved, ROUNDS times), for issue 20's targets:
#
#   - 1M x 128 generated vectors (the memory benchmark's data, seed 7),
#     k = 1024 and 4096, 4 iterations, 2 threads;
#   - debian-384 (50k x 384), k = 256 and 1024 (DEBIAN_KS), 4 iterations,
#     2 threads, when present;
#   - with HIER_KS (default 16384; empty to skip), 1M x 128 at those k with
#     vectrove's k-means++ and hierarchical starts, and faiss.
#
# Both train on at most 256 points per centroid (faiss's
# max_points_per_centroid, vectrove's default), tolerance 0 (every iteration
# runs). Each run prints its iterations and one summary line: the mean time
# of iterations 2 onwards ("per iteration"), the first iteration (vectrove's
# includes its k-means++ seeding; faiss's random init is nearly free), the
# total and the final objective.
#
#   bash benches/kmeans/run.sh [work-dir]     (default target/kmeansbench)
#   ROUNDS=3 KS="1024 4096" bash benches/kmeans/run.sh
#
# faiss-cpu and numpy go into a venv of their own (VENV, default
# <work-dir>/venv). The OpenBLAS bundled with faiss picks slow kernels on
# its own (it misreads newer AVX-512 Xeons as an old core; on an AVX2-only
# AMD EPYC its Zen choice is 15-20% slower than its Haswell kernels), so the
# script names the core: SkylakeX with AVX-512, Haswell with AVX2 (SkylakeX
# kernels die with an illegal instruction without AVX-512). An
# OPENBLAS_CORETYPE set by the caller is kept.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-target/kmeansbench}
ROUNDS=${ROUNDS:-2}
KS=${KS:-1024 4096}
HIER_KS=${HIER_KS-16384}
DEBIAN_KS=${DEBIAN_KS:-256 1024}
THREADS=${THREADS:-2}
ITERS=${ITERS:-4}
VENV=${VENV:-$DIR/venv}
DEBIAN=${DEBIAN:-/work/shared/data/debian-384/base.fvecs}
mkdir -p "$DIR"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q faiss-cpu numpy
fi
# Two builds: with --example, cargo builds only the example.
cargo build --release -q -p vectrove-cli
cargo build --release -q -p vectrove-benches --example kmeans_timing
TARGET=${CARGO_TARGET_DIR:-target}
if [ ! -f "$DIR/data/base.fvecs" ]; then
  "$TARGET/release/vectrove" generate --n 1000000 --dim 128 --queries 10 --k 1 --metric l2 \
    --seed 7 --output "$DIR/data"
fi
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
    export OPENBLAS_CORETYPE=SkylakeX
  elif grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
    export OPENBLAS_CORETYPE=Haswell
  fi
fi
ours() { "$TARGET/release/examples/kmeans_timing" "$@"; }
theirs() { "$VENV/bin/python" benches/kmeans/faiss_kmeans.py "$@"; }
for round in $(seq "$ROUNDS"); do
  for k in $KS; do
    echo "== round $round, 1M x 128, k=$k"
    ours "$DIR/data/base.fvecs" "$k" "$ITERS" "$THREADS" 256
    theirs "$DIR/data/base.fvecs" "$k" "$ITERS" "$THREADS" 256
  done
  for k in $HIER_KS; do
    echo "== round $round, 1M x 128, k=$k: k-means++ and hierarchical starts"
    ours "$DIR/data/base.fvecs" "$k" "$ITERS" "$THREADS" 256 1 kmeans++
    ours "$DIR/data/base.fvecs" "$k" "$ITERS" "$THREADS" 256 1 hierarchical
    theirs "$DIR/data/base.fvecs" "$k" "$ITERS" "$THREADS" 256
  done
  if [ -f "$DEBIAN" ]; then
    for k in $DEBIAN_KS; do
      echo "== round $round, debian-384, k=$k"
      ours "$DEBIAN" "$k" "$ITERS" "$THREADS" 256
      theirs "$DEBIAN" "$k" "$ITERS" "$THREADS" 256
    done
  fi
done
