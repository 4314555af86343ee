#!/usr/bin/env bash
# Tests of the npm package `vectrove` in headless Chromium and through a Vite build:
#
#   bash wasm/npm-test/run.sh
#
# Installs this directory's npm dependencies when they are missing or stale (npm ci from
# package-lock.json; no browser is downloaded: the system chromium is used), rebuilds
# wasm/pkg with scripts/build-npm.sh when it is missing or older than its sources, then
# runs run-tests.mjs, which prints one line per test.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$HERE"

# npm records what it installed in node_modules/.package-lock.json; skip npm ci while that
# is newer than the lock file.
if [ ! -f package-lock.json ]; then
  echo "==> npm install (no package-lock.json yet)"
  npm install --no-audit --no-fund
elif [ ! -f node_modules/.package-lock.json ] ||
     [ package-lock.json -nt node_modules/.package-lock.json ] ||
     [ package.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci"
  npm ci --no-audit --no-fund
fi

WASM=$ROOT/wasm/pkg/dist/vectrove_wasm_bg.wasm
stale=""
if [ ! -f "$WASM" ]; then
  stale="wasm/pkg is missing"
else
  newer=$(find "$ROOT/wasm/src" "$ROOT/wasm/Cargo.toml" "$ROOT/core/src" "$ROOT/core/Cargo.toml" \
    "$ROOT/Cargo.lock" "$ROOT/wasm/npm" -path '*/node_modules' -prune -o -type f -newer "$WASM" -print |
    head -n 1)
  [ -z "$newer" ] || stale="${newer#"$ROOT"/} is newer than wasm/pkg"
fi
if [ -n "$stale" ]; then
  echo "==> building the package ($stale)"
  bash "$ROOT/scripts/build-npm.sh"
fi

echo "==> tests"
exec node "$HERE/run-tests.mjs"
