#!/usr/bin/env bash
# Run the conformance corpus and accept only the failures that
# docs/deviations.md lists (its table's first column names the case ids).
# Prints compare.py's report, then one summary line:
#   conformance: P passed, F failed, D skipped   (D = documented deviations)
set -uo pipefail
cd "$(dirname "$0")/.."
shared="${LINUXKIT_SHARED:-../shared}"
cases="${1:-}"

out=$(python3 "$shared/conformance/compare.py" target/release/linuxkit --last-wins --jobs 2 ${cases:+"$cases"})
status=$?
echo "$out"
if ! echo "$out" | tail -n 1 | grep -Eq '^[0-9]+ passed, [0-9]+ failed$'; then
  echo "conformance: compare.py did not finish (exit $status)"; exit 1
fi
allowed=$(grep -oE '^\| `[^`]+`' docs/deviations.md | tr -d '|` ')
passed=$(echo "$out" | grep -c '^PASS ' || true)
unexpected=0
deviations=0
for id in $(echo "$out" | sed -n 's/^FAIL \([^:]*\):.*/\1/p'); do
  if echo "$allowed" | grep -qxF "$id"; then
    deviations=$((deviations + 1))
  else
    unexpected=$((unexpected + 1))
    echo "unexpected conformance failure: $id (not listed in docs/deviations.md)"
  fi
done
echo "conformance: $passed passed, $unexpected failed, $deviations skipped"
[ "$unexpected" -eq 0 ]
