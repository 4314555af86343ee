#!/usr/bin/env bash
# Build every fuzz target, replay every input kept under fuzz/regressions/,
# then fuzz each target for a while. Exits non-zero on any crash, timeout or
# out-of-memory, naming the input that caused it.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Environment (all optional):
#   FUZZ_SECONDS     seconds per target (default 30; the first argument wins)
#   FUZZ_TOOLCHAIN   rustup toolchain: stable (default) or nightly
#   FUZZ_SANITIZER   none (default on stable) or address (default on nightly)
#   FUZZ_RSS_MB      memory limit per process, MiB (default 2048)
#   FUZZ_TIMEOUT     seconds one input may take (default 10)
#   FUZZ_TARGET_DIR  cargo's target directory for the fuzz build (default
#                    fuzz/target; give a long run one of its own so that
#                    other builds cannot replace its binaries under it)
#   FUZZ_WORK        where the growing corpus, crash inputs and logs go
#                    (default: a fresh temporary directory; the committed
#                    seed corpus in fuzz/corpus/ is only read)
#
# Needs cargo-fuzz (scripts/test.sh installs the pinned version). One fuzz
# process runs at a time, on one core.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

SECONDS_PER=${1:-${FUZZ_SECONDS:-30}}
[ $# -gt 0 ] && shift
TOOLCHAIN=${FUZZ_TOOLCHAIN:-stable}
if [ "$TOOLCHAIN" = nightly ]; then
  SANITIZER=${FUZZ_SANITIZER:-address}
else
  SANITIZER=${FUZZ_SANITIZER:-none}
fi
RSS_MB=${FUZZ_RSS_MB:-2048}
TIMEOUT=${FUZZ_TIMEOUT:-10}
WORK=${FUZZ_WORK:-$(mktemp -d /tmp/vectrove-fuzz.XXXXXX)}
mkdir -p "$WORK"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is not installed: cargo install cargo-fuzz --version 0.13.2 --locked" >&2
  exit 1
fi
if ! rustup run "$TOOLCHAIN" rustc --version >/dev/null 2>&1; then
  echo "the Rust toolchain '$TOOLCHAIN' is not installed (rustup toolchain install $TOOLCHAIN)," >&2
  echo "or fuzz with the other one: FUZZ_TOOLCHAIN=stable (sanitizer none) or nightly (address)" >&2
  exit 1
fi
if [ "$SANITIZER" != none ] && [ "$TOOLCHAIN" != nightly ]; then
  echo "sanitizer '$SANITIZER' needs FUZZ_TOOLCHAIN=nightly" >&2
  exit 1
fi

ALL=$(cargo fuzz list --fuzz-dir fuzz)
TARGETS=${*:-$ALL}
HOST=$(rustup run "$TOOLCHAIN" rustc -vV | awk '/^host:/ { print $2 }')
TARGET_DIR=${FUZZ_TARGET_DIR:-$ROOT/fuzz/target}
BIN_DIR=$TARGET_DIR/$HOST/release

echo "fuzz: $TOOLCHAIN, sanitizer $SANITIZER, ${SECONDS_PER}s per target, ${RSS_MB} MiB, ${TIMEOUT}s per input; work in $WORK"
t0=$SECONDS
# Debug assertions on: the core's own internal checks count as findings.
cargo "+$TOOLCHAIN" fuzz build --fuzz-dir fuzz -O --debug-assertions --sanitizer "$SANITIZER" \
  --target-dir "$TARGET_DIR"
echo "built in $((SECONDS - t0))s"

LIBFUZZER_FLAGS=(-rss_limit_mb="$RSS_MB" -malloc_limit_mb="$RSS_MB" -timeout="$TIMEOUT" -print_final_stats=1)
failed=()

# Every kept input, once: they are the bugs found so far.
for t in $TARGETS; do
  dir=fuzz/regressions/$t
  [ -d "$dir" ] || continue
  files=$(find "$dir" -type f | sort)
  [ -n "$files" ] || continue
  n=$(echo "$files" | wc -l)
  # shellcheck disable=SC2086
  if "$BIN_DIR/$t" "${LIBFUZZER_FLAGS[@]}" $files >"$WORK/$t.regressions.log" 2>&1; then
    echo "regressions $t: $n inputs pass"
  else
    echo "regressions $t: FAILED (log: $WORK/$t.regressions.log)"
    tail -n 30 "$WORK/$t.regressions.log"
    failed+=("$t (regressions)")
  fi
done

summary=()
for t in $TARGETS; do
  corpus=$WORK/corpus/$t
  artifacts=$WORK/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  seeds=()
  for d in fuzz/corpus/$t fuzz/regressions/$t; do
    [ -d "$d" ] && seeds+=("$d")
  done
  log=$WORK/$t.log
  set +e
  "$BIN_DIR/$t" "${LIBFUZZER_FLAGS[@]}" -max_total_time="$SECONDS_PER" -dict=fuzz/vectrove.dict \
    -artifact_prefix="$artifacts/" "$corpus" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  set -e
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log" | tail -n 1 || true)
  rate=$(awk '/stat::average_exec_per_sec/ { print $2 }' "$log" | tail -n 1 || true)
  field() { echo "$last" | grep -oE "$1" | awk '{ print $2 }' || true; }
  cov=$(field 'cov: [0-9]+')
  ft=$(field 'ft: [0-9]+')
  corp=$(field 'corp: [0-9]+/[0-9]+[a-zA-Z]*')
  if [ "$rc" -eq 0 ]; then
    result=ok
  else
    found=$(ls "$artifacts" 2>/dev/null | head -n 3 | tr '\n' ' ' || true)
    result="FAILED (exit $rc: ${found:-no artifact})"
    failed+=("$t")
    echo "---- $t failed; the end of $log:"
    tail -n 40 "$log"
  fi
  line=$(printf '%-14s execs %-10s exec/s %-7s cov %-6s ft %-6s corpus %-12s %s' \
    "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result")
  echo "$line"
  summary+=("$line")
done

echo
echo "fuzz summary ($TOOLCHAIN, sanitizer $SANITIZER, ${SECONDS_PER}s per target; logs and crash inputs in $WORK):"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  echo "minimise a crash with: cd fuzz && cargo +$TOOLCHAIN fuzz tmin --sanitizer $SANITIZER <target> <input>," >&2
  echo "then keep it under fuzz/regressions/<target>/" >&2
  exit 1
fi
echo "fuzz: every target ran clean"
