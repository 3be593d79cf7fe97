#!/usr/bin/env bash
# run.sh BUILD SECONDS - runs every fuzz target for SECONDS each, with its corpus under fuzz/corpus/.
set -euo pipefail
build="$1"; secs="${2:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
for t in fuzz_server_session fuzz_command_parser fuzz_client_session fuzz_html_rewriter fuzz_tracking_token fuzz_bounce_report fuzz_submission_options; do
  mkdir -p "$build/corpus/$t"
  seeds=()
  [ -d "$here/corpus/$t" ] && seeds=("$here/corpus/$t")
  echo "== $t for ${secs}s"
  "$build/$t" -max_total_time="$secs" -max_len=8192 -print_final_stats=1 "$build/corpus/$t" "${seeds[@]}"
done
