#!/usr/bin/env bash
# k-means training whose sample is larger than the memory it is allowed.
#
# `vectrove kmeans --on-disk` streams its input to a temporary file and
# trains from there; this runs it on N generated 128-d vectors (default 2M:
# 1 GB, all of them the training sample at k = 4096 and PER = 512 points
# per centroid) inside a memory cgroup limited to LIMIT_MB (default 128:
# the sample is 7.5 times that), then the same training in memory without a limit, and reports for
# each the peak private (anonymous) memory, sampled from /proc every 20 ms,
# the cgroup's own peak (page cache included, which the kernel reclaims to
# stay under the limit), the time, and whether the centroids are the same
# bytes.
#
#   bash benches/kmeans/memory.sh [work-dir]     (default target/kmeansbench)
#   N=1000000 PER=256 LIMIT_MB=128 K=4096 ITERS=4 THREADS=2 INIT=hierarchical \
#     bash benches/kmeans/memory.sh
#
# Needs a writable cgroup-v1 memory controller (/sys/fs/cgroup/memory) to
# enforce the limit; without one it still measures, unlimited, and says so.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-target/kmeansbench}
LIMIT_MB=${LIMIT_MB:-128}
K=${K:-4096}
ITERS=${ITERS:-4}
THREADS=${THREADS:-2}
INIT=${INIT:-kmeans++}
N=${N:-2000000}
PER=${PER:-512}
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release/vectrove
mkdir -p "$DIR"
cargo build --release -q -p vectrove-cli
DATA=$DIR/data-$N
if [ ! -f "$DATA/base.fvecs" ]; then
  "$BIN" generate --n "$N" --dim 128 --queries 10 --k 1 --metric l2 \
    --seed 7 --output "$DATA"
fi

# The largest RssAnon (kB) of process $1 while it runs.
peak_anon() {
  local pid=$1 max=0 v
  while kill -0 "$pid" 2>/dev/null; do
    v=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    if [ -n "$v" ] && [ "$v" -gt "$max" ]; then max=$v; fi
    sleep 0.02
  done
  echo "$max"
}

CG=/sys/fs/cgroup/memory/vectrove-kmeans-$$
limited=no
if mkdir "$CG" 2>/dev/null; then
  echo $((LIMIT_MB << 20)) > "$CG/memory.limit_in_bytes"
  limited=yes
  trap 'rmdir "$CG" 2>/dev/null || true' EXIT
else
  echo "no writable memory cgroup: the on-disk run is measured without a limit"
fi

args=(kmeans --input "$DATA/base.fvecs" --k "$K" --iters "$ITERS" --tolerance 0
  --max-points-per-centroid "$PER"
  --threads "$THREADS" --seed 1 --init "$INIT" --json)

run() { # name, centroids file, extra args...; prints one summary line
  local name=$1 out=$2
  shift 2
  local t0 pid peak
  t0=$(date +%s.%N)
  if [ "$name" = on-disk ] && [ "$limited" = yes ]; then
    sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh "$CG" "$BIN" "${args[@]}" \
      --output "$out" "$@" > "$DIR/$name.json" &
  else
    "$BIN" "${args[@]}" --output "$out" "$@" > "$DIR/$name.json" &
  fi
  pid=$!
  peak=$(peak_anon "$pid")
  wait "$pid"
  local secs inertia
  secs=$(echo "$(date +%s.%N) - $t0" | bc)
  inertia=$(grep -o '"inertia": *[0-9.e+]*' "$DIR/$name.json" | head -1 | sed 's/.*: *//')
  printf '%-9s peak private %6d MB, %6.1f s, objective %s' "$name" $((peak / 1024)) "$secs" "$inertia"
  if [ "$name" = on-disk ] && [ "$limited" = yes ]; then
    printf ', cgroup limit %d MB, cgroup peak (page cache included) %d MB, limit hit %s times' \
      "$LIMIT_MB" $(($(cat "$CG/memory.max_usage_in_bytes") >> 20)) "$(cat "$CG/memory.failcnt")"
  fi
  echo
}

bytes=$(stat -c %s "$DATA/base.fvecs")
echo "$N x 128 ($((bytes >> 20)) MB of fvecs), k=$K, $INIT start, $ITERS iterations, $THREADS threads," \
  "sample of $((N < K * PER ? N : K * PER)) points"
run on-disk "$DIR/centroids-disk.fvecs" --on-disk
run in-memory "$DIR/centroids-mem.fvecs"
if cmp -s "$DIR/centroids-disk.fvecs" "$DIR/centroids-mem.fvecs"; then
  echo "centroids: identical bytes"
else
  echo "centroids: DIFFER"
  exit 1
fi
