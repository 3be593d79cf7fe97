#!/usr/bin/env bash
# run.sh BUILD SECONDS - runs every libFuzzer target built in BUILD (the fuzz_* programs that
# CMakeLists.txt declares with kurier_fuzz_target) for SECONDS each. Seeds and every past crash are
# in fuzz/corpus/TARGET/ and are replayed first; new inputs go to BUILD/corpus/TARGET/. A crash, leak
# or timeout stops the run with a non-zero exit and leaves the input in BUILD/fuzz-crashes/: copy it
# into fuzz/corpus/TARGET/ once fixed, so it is replayed by every later run.
set -euo pipefail
build="$1"; secs="${2:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$build/fuzz-crashes"
targets=()
for exe in "$build"/fuzz_*; do
  [ -f "$exe" ] && [ -x "$exe" ] && targets+=("$(basename "$exe")")
done
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz/run.sh: no fuzz_* program in $build; build them first (make fuzz, or cmake --build $build --target fuzz_all)" >&2
  exit 1
fi
passed=0; failed=0
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t"
  seeds=()
  [ -d "$here/corpus/$t" ] && seeds=("$here/corpus/$t")
  echo "== $t for ${secs}s"
  if "$build/$t" -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$build/fuzz-crashes/$t-" "$build/corpus/$t" "${seeds[@]}" 2>"$build/corpus/$t.log"; then
    grep -E '^stat::number_of_executed_units|^Done ' "$build/corpus/$t.log" | tr '\n' ' '; echo
    passed=$((passed + 1))
  else
    tail -n 40 "$build/corpus/$t.log"
    echo "!! $t failed: the input is in $build/fuzz-crashes/ (named $t-*)"
    failed=$((failed + 1))
  fi
done
echo "fuzz targets: $passed clean, $failed crashed"
[ "$failed" -eq 0 ]
