#!/usr/bin/env bash
# Peer benchmark: vectrove's HNSW against hnswlib (and faiss HNSWFlat when it
# installs) on the debian-384 embeddings: build time at 1 and 2 threads, and
# single-thread QPS at recall@10 = 0.90 / 0.95 / 0.99 on three query sets.
# vectrove runs twice: on its f32 vectors, and built with --quantize sq8
# (traversal on 8-bit codes, exact rerank of the best candidates).
#
# Query sets (details in peer.py's header):
#   like-base  the shipped queries.fvecs, same distribution as the base;
#   mix        normalised blends of two unrelated held-out queries (cos < 0.05),
#              which fall between topic clusters;
#   noise      held-out queries plus Gaussian noise as large as the vector,
#              renormalised, so they sit off the data manifold.
# The generated sets are seeded and start from queries.fvecs, which the index
# never holds; their exact top-100 is computed by brute force (cosine).
#
# Usage: benches/peer/run.sh [--data DIR] [--work DIR] [--rounds R] [--quick]
#                            [--skip-build] [--no-faiss] [--no-sq8] [--ef LIST]
#                            [--repeat N] [--rerank N] [--peer-huge-pages]
#   --data DIR    debian-384 folder (default $VECTROVE_DATA, else
#                 ../shared/data/debian-384 beside the repository)
#   --work DIR    indexes, generated queries, results.json (default target/peer)
#   --rounds R    rounds of the whole measurement, libraries interleaved (3)
#   --quick       smoke test: short ef sweep, 1 round, builds at 2 threads only
#   --skip-build  reuse the indexes already in the work dir; no build timing
#   --no-faiss    leave faiss out even if it is installed
#   --no-sq8      leave the quantised vectrove index (vectrove-sq8) out
#   --ef LIST     comma-separated ef values to sweep instead of the default
#   --repeat N    timed passes per ef, the fastest kept (default 2)
#   --rerank N    candidates vectrove-sq8 reranks exactly (default: the
#                 CLI's, max(4k, 32))
#   --peer-huge-pages  run hnswlib and faiss with glibc's malloc on
#                 transparent huge pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1),
#                 as the vectrove CLI's allocator puts its large buffers;
#                 by default the peers run as installed
#
# The Python environment lives in target/peer-venv and is made on first use.
set -euo pipefail

HNSWLIB_VERSION=0.8.0
NUMPY_VERSION=2.4.6
FAISS_VERSION=1.15.1

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

data="${VECTROVE_DATA:-$repo/../shared/data/debian-384}"
work="$repo/target/peer"
extra=()
faiss=1
sq8=1
while [ $# -gt 0 ]; do
    case "$1" in
        --data) data="$2"; shift 2 ;;
        --work) work="$2"; shift 2 ;;
        --rounds) extra+=(--rounds "$2"); shift 2 ;;
        --ef) extra+=(--ef "$2"); shift 2 ;;
        --repeat) extra+=(--repeat "$2"); shift 2 ;;
        --rerank) extra+=(--rerank "$2"); shift 2 ;;
        --peer-huge-pages) extra+=(--peer-huge-pages); shift ;;
        --quick) extra+=(--quick); shift ;;
        --skip-build) extra+=(--skip-build); shift ;;
        --no-faiss) faiss=0; shift ;;
        --no-sq8) sq8=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

for f in base.fvecs queries.fvecs groundtruth.ivecs; do
    [ -r "$data/$f" ] || { echo "run.sh: $data/$f not found (set --data or VECTROVE_DATA)" >&2; exit 1; }
done

# --- Python environment -------------------------------------------------------
venv="$repo/target/peer-venv"
py="$venv/bin/python"
if [ ! -x "$py" ]; then
    echo "== creating $venv" >&2
    if ! python3 -m venv "$venv" 2>/dev/null; then
        # Without the stdlib venv (Debian's python3-venv), fall back to
        # virtualenv installed for this user only.
        rm -rf "$venv"
        python3 -m pip install --user --quiet virtualenv
        python3 -m virtualenv --quiet "$venv"
    fi
fi
want="hnswlib==$HNSWLIB_VERSION numpy==$NUMPY_VERSION"
stamp="$venv/.peer-stamp"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "== installing $want (hnswlib builds from source on first install)" >&2
    "$py" -m pip install --quiet --disable-pip-version-check "numpy==$NUMPY_VERSION" "hnswlib==$HNSWLIB_VERSION"
    echo "$want" > "$stamp"
fi
libs=vectrove
[ "$sq8" = 1 ] && libs=$libs,vectrove-sq8
libs=$libs,hnswlib
if [ "$faiss" = 1 ]; then
    if [ "$(cat "$stamp.faiss" 2>/dev/null)" != "$FAISS_VERSION" ]; then
        echo "== installing faiss-cpu==$FAISS_VERSION (optional)" >&2
        if "$py" -m pip install --quiet --disable-pip-version-check "faiss-cpu==$FAISS_VERSION"; then
            echo "$FAISS_VERSION" > "$stamp.faiss"
        else
            echo "== faiss-cpu==$FAISS_VERSION did not install; going on without faiss" >&2
        fi
    fi
    # faiss's bundled OpenBLAS picks slow kernels on its own (an old core for
    # newer AVX-512 Xeons; Zen's on AVX2-only EPYCs, slower than Haswell's):
    # name the core (peer.py does the same). SkylakeX kernels die with an
    # illegal instruction without AVX-512.
    if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
        if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
            export OPENBLAS_CORETYPE=SkylakeX
        elif grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
            export OPENBLAS_CORETYPE=Haswell
        fi
    fi
    if [ -f "$stamp.faiss" ] && "$py" -c 'import faiss' 2>/dev/null; then
        libs=$libs,faiss
    else
        echo "== faiss is not importable; going on without it" >&2
    fi
fi

# --- vectrove CLI -------------------------------------------------------------
echo "== cargo build --release -p vectrove-cli" >&2
(cd "$repo" && cargo build --release --quiet -p vectrove-cli) ||
    { echo "run.sh: the vectrove CLI does not build" >&2; exit 1; }
bin="$repo/target/release/vectrove"
commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$repo" status --porcelain -- core native 2>/dev/null)" ]; then
    commit="$commit+local-changes"
fi

exec "$py" "$here/peer.py" run --data "$data" --work "$work" --vectrove "$bin" \
    --libs "$libs" --commit "$commit" "${extra[@]}"
