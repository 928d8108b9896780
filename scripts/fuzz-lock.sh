#!/usr/bin/env bash
# fuzz/ is its own cargo workspace (cargo-fuzz builds it with libFuzzer), so it
# has its own Cargo.lock, committed. Keep it current with the same versions as
# the main Cargo.lock: seed it from Cargo.lock and let cargo resolve offline.
#
#   bash scripts/fuzz-lock.sh           rewrite fuzz/Cargo.lock
#   bash scripts/fuzz-lock.sh --check   fail if fuzz/Cargo.lock is not current
set -euo pipefail
cd "$(dirname "$0")/.."
old=$(mktemp)
trap 'rm -f "$old"' EXIT
cp fuzz/Cargo.lock "$old"
cp Cargo.lock fuzz/Cargo.lock
if ! (cd fuzz && cargo metadata --offline --format-version 1 >/dev/null 2>&1); then
  # a dependency the fuzz targets add is not downloaded yet
  (cd fuzz && cargo metadata --format-version 1 >/dev/null)
fi
if [ "${1:-}" = --check ] && ! cmp -s "$old" fuzz/Cargo.lock; then
  cp "$old" fuzz/Cargo.lock
  echo "fuzz-lock: fuzz/Cargo.lock is not current: run bash scripts/fuzz-lock.sh and commit it" >&2
  exit 1
fi
