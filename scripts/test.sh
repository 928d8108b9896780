#!/usr/bin/env bash
# The test suite, as run by CI (.ci/run) and by developers:
#   formatting and lints, one release build reused by every test, unit and
#   integration tests, fuzzing (60 s per target), then the conformance corpus
#   (its closing line "conformance: N passed, M failed, D skipped" is the summary;
#   D counts the cases docs/deviations.md documents as deliberate fixes).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --release -- -D warnings
echo "== release build"
cargo build --workspace --release --bins

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi
# cargo-fuzz on the stable toolchain: no sanitizer, RUSTC_BOOTSTRAP for its -Z flags.
for target in yaml_config layer_tar registry_docs; do
  echo "== fuzz $target (60 s)"
  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$target" -- -max_total_time=60 -rss_limit_mb=4096 2>&1 | tail -n 3)
done

echo "== tests"
cargo nextest run --workspace --release --no-fail-fast

echo "== conformance (failures allowed only where docs/deviations.md lists the case)"
bash scripts/conformance.sh
