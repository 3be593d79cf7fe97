#!/usr/bin/env bash
# test.sh BUILD - `make test`: the size rules of src/ (scripts/code_size.py), unit tests (GoogleTest via
# ctest), then end-to-end tests (pytest against the real binary and real clients), then one closing
# summary line.
set -uo pipefail
BUILD="${1:-build}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
LOG="$(mktemp -d)"
echo "== size rules (no file over 900 lines, no function over 120: scripts/code_size.py)"
/usr/bin/python3 scripts/code_size.py src
size_rc=$?
echo "== unit tests (ctest)"
(cd "$BUILD" && ctest --output-on-failure -j "$(nproc)") 2>&1 | tee "$LOG/unit.txt"
unit_rc=${PIPESTATUS[0]}
echo "== end-to-end tests (pytest)"
KURIER_BIN="$ROOT/$BUILD/kurier" /usr/bin/python3 -m pytest tests/e2e -q -p no:cacheprovider -rfE 2>&1 | tee "$LOG/e2e.txt"
e2e_rc=${PIPESTATUS[0]}

u_pass=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' "$LOG/unit.txt" | awk '{print $1-$2}')
u_fail=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of.*/\1/p' "$LOG/unit.txt")
e_line=$(grep -E '^(=+ )?[0-9]+ (passed|failed)|^=+ .*(passed|failed)' "$LOG/e2e.txt" | tail -1)
e_pass=$(grep -oE '[0-9]+ passed' <<<"$e_line" | grep -oE '[0-9]+' || echo 0)
e_fail=$(grep -oE '[0-9]+ (failed|errors?)' <<<"$e_line" | awk '{s+=$1} END {print s+0}')
e_skip=$(grep -oE '[0-9]+ skipped' <<<"$e_line" | grep -oE '[0-9]+' || echo 0)
pass=$(( ${u_pass:-0} + ${e_pass:-0} )); fail=$(( ${u_fail:-0} + ${e_fail:-0} ))
rm -rf "$LOG"
echo
echo "unit: ${u_pass:-0} passed, ${u_fail:-0} failed; e2e: ${e_pass:-0} passed, ${e_fail:-0} failed, ${e_skip:-0} skipped"
echo "total: $pass passed, $fail failed, ${e_skip:-0} skipped"
[ "$size_rc" -eq 0 ] || echo "size rules: failed (see the list above)"
if [ "$size_rc" -ne 0 ] || [ "$unit_rc" -ne 0 ] || [ "$e2e_rc" -ne 0 ] || [ "$pass" -eq 0 ]; then exit 1; fi
