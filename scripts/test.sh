#!/usr/bin/env bash
# The test suite, as run by CI (.ci/run) and by developers:
#   set-up and tool check (scripts/setup.sh: fails in seconds, naming what is
#   missing and how to install it), the vendored libcontainer check,
#   formatting and lints, one release build reused by every test, fuzzing
#   (60 s per target), unit and integration tests (then the 10 slowest), and
#   the conformance corpus (its closing line "conformance: N passed, M failed,
#   D skipped" is the summary; D counts the cases docs/deviations.md documents
#   as deliberate fixes).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== set-up and tool check"
bash scripts/setup.sh
echo "== vendored libcontainer"
bash scripts/check-vendored.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --release -- -D warnings
echo "== release build"
cargo build --workspace --release --bins

# cargo-fuzz on the stable toolchain: no sanitizer, RUSTC_BOOTSTRAP for its -Z flags.
# fuzz/Cargo.lock is committed: when a dependency of the fuzzed crates changes,
# commit the lock this updates (the clone must stay clean after the tests).
for target in yaml_config layer_tar registry_docs; do
  echo "== fuzz $target (60 s)"
  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" -- -max_total_time=60 -rss_limit_mb=4096 2>&1 | tail -n 3)
done

echo "== tests"
status=0
cargo nextest run --workspace --release --profile ci || status=$?
python3 scripts/slowest-tests.py target/nextest/ci/junit.xml 10
[ "$status" -eq 0 ] || exit "$status"

echo "== conformance (failures allowed only where docs/deviations.md lists the case)"
bash scripts/conformance.sh
