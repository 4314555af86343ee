#!/usr/bin/env bash
# Installs a directory's npm dependencies from its package-lock.json when they are
# missing or stale (npm ci; no browser is downloaded: the tests use the system chromium):
#
#   bash scripts/npm-deps.sh <dir>
#
# npm records what it installed in node_modules/.package-lock.json; npm ci is skipped
# while that is newer than package.json and the lock file.
set -euo pipefail
cd "$1"
if [ ! -f package-lock.json ]; then
  echo "==> npm install in $1 (no package-lock.json yet)"
  npm install --no-audit --no-fund
elif [ ! -f node_modules/.package-lock.json ] ||
     [ package-lock.json -nt node_modules/.package-lock.json ] ||
     [ package.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci in $1"
  npm ci --no-audit --no-fund
fi
