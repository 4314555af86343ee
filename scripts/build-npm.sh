#!/usr/bin/env bash
# Builds the npm package `vectrove` into wasm/pkg/ (a build output, not committed):
#
#   bash scripts/build-npm.sh [--if-stale]
#
# With --if-stale it does nothing while wasm/pkg is newer than every source it is built
# from (the wasm and core crates, Cargo.lock and wasm/npm).
#
# 1. cargo builds the vectrove-wasm crate for wasm32 with the `wasm` profile (release with
#    LTO and one codegen unit, see Cargo.toml; simd128 comes from
#    .cargo/config.toml);
# 2. wasm-bindgen (the CLI on PATH, which must match the crate's wasm-bindgen version)
#    writes the ES module glue and the .wasm into wasm/pkg/dist;
# 3. wasm-opt from the npm package `binaryen` (a devDependency of wasm/npm) shrinks the
#    .wasm when it can be installed; otherwise this step is skipped. Debian's binaryen
#    is never used: its old wasm-opt breaks wasm-bindgen output;
# 4. the hand-written files of wasm/npm/ are copied beside dist/.
#
# Environment:
#   VECTROVE_WASM_OPT=0        skip wasm-opt
#   VECTROVE_WASM_OPT_FLAGS    optimisation flags for wasm-opt (default -O3)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

SRC=$ROOT/wasm/npm
PKG=$ROOT/wasm/pkg

step() { printf '==> %s\n' "$*"; }

if [ "${1:-}" = "--if-stale" ]; then
  BUILT=$PKG/dist/vectrove_wasm_bg.wasm
  if [ ! -f "$BUILT" ]; then
    step "building the package (wasm/pkg is missing)"
  else
    newer=$(find "$ROOT/wasm/src" "$ROOT/wasm/Cargo.toml" "$ROOT/core/src" "$ROOT/core/Cargo.toml" \
      "$ROOT/Cargo.lock" "$SRC" -path '*/node_modules' -prune -o -type f -newer "$BUILT" -print |
      head -n 1)
    if [ -z "$newer" ]; then
      step "wasm/pkg is up to date"
      exit 0
    fi
    step "building the package (${newer#"$ROOT"/} is newer than wasm/pkg)"
  fi
elif [ $# -gt 0 ]; then
  echo "usage: bash scripts/build-npm.sh [--if-stale]" >&2
  exit 2
fi

# The CLI must match the crate exactly; say so clearly rather than fail inside wasm-bindgen.
WBV=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! command -v wasm-bindgen >/dev/null; then
  echo "wasm-bindgen CLI not found; install it with: cargo install wasm-bindgen-cli --version $WBV" >&2
  exit 1
fi
HAVE=$(wasm-bindgen --version | awk '{print $2}')
if [ -n "$WBV" ] && [ "$HAVE" != "$WBV" ]; then
  echo "wasm-bindgen CLI is $HAVE but Cargo.lock has $WBV; run: cargo install wasm-bindgen-cli --version $WBV --force" >&2
  exit 1
fi

step "cargo build --profile wasm -p vectrove-wasm --target wasm32-unknown-unknown"
cargo build --profile wasm -p vectrove-wasm --target wasm32-unknown-unknown
# Wherever the target directory is (CARGO_TARGET_DIR, build.target-dir, or ./target).
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).target_directory))')
RAW=$TARGET_DIR/wasm32-unknown-unknown/wasm/vectrove_wasm.wasm

step "wasm-bindgen --target web"
rm -rf "$PKG"
mkdir -p "$PKG/dist"
wasm-bindgen --target web --out-dir "$PKG/dist" --out-name vectrove_wasm "$RAW"
WASM=$PKG/dist/vectrove_wasm_bg.wasm

# wasm-opt from npm's binaryen: installed on demand from wasm/npm's lock file.
WASM_OPT=$SRC/node_modules/.bin/wasm-opt
if [ "${VECTROVE_WASM_OPT:-1}" = "0" ]; then
  step "wasm-opt skipped (VECTROVE_WASM_OPT=0)"
else
  if [ ! -x "$WASM_OPT" ] && command -v npm >/dev/null; then
    step "npm ci in wasm/npm (binaryen for wasm-opt)"
    (cd "$SRC" && npm ci --no-audit --no-fund --loglevel=error) ||
      echo "warning: could not install binaryen from npm; continuing without wasm-opt" >&2
  fi
  if [ -x "$WASM_OPT" ]; then
    FLAGS=${VECTROVE_WASM_OPT_FLAGS:--O3}
    step "wasm-opt $FLAGS ($("$WASM_OPT" --version))"
    # The features rustc enables by default for wasm32-unknown-unknown, plus simd128.
    # shellcheck disable=SC2086
    "$WASM_OPT" $FLAGS \
      --enable-simd --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
      --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
      "$WASM" -o "$WASM.opt"
    mv "$WASM.opt" "$WASM"
  else
    step "wasm-opt not available (npm package binaryen missing); .wasm left unoptimised"
  fi
fi

step "package files from wasm/npm"
for f in package.json index.js index.d.ts remote.js worker.js README.md; do
  cp "$SRC/$f" "$PKG/$f"
done
# The published manifest takes the crate's version and drops what only building needs.
VERSION=$(cargo pkgid -p vectrove-wasm | sed 's/.*[#@]//')
node -e '
  const fs = require("fs");
  const [file, version] = process.argv.slice(1);
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
  pkg.version = version;
  delete pkg.devDependencies;
  delete pkg.scripts;
  delete pkg.private;
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
' "$PKG/package.json" "$VERSION"

RAW_BYTES=$(wc -c <"$WASM")
GZ_BYTES=$(gzip -9 -c "$WASM" | wc -c)
step "built vectrove $VERSION in wasm/pkg"
printf 'wasm size: %d bytes raw, %d bytes gzip -9 (unoptimised from cargo: %d bytes)\n' \
  "$RAW_BYTES" "$GZ_BYTES" "$(wc -c <"$RAW")"
