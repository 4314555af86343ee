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

bash "$ROOT/scripts/npm-deps.sh" "$HERE"
bash "$ROOT/scripts/build-npm.sh" --if-stale

echo "==> tests"
exec node "$HERE/run-tests.mjs"
