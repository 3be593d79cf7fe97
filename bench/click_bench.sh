#!/usr/bin/env bash
# bench/click_bench.sh BUILD - the click endpoint (issue 6): wrk with keep-alive against one tracked link
# of a real message (each hit verifies the token, looks the message up, classifies the hit, records a
# `clicked` event in the event log and answers 302), beside the same server's plain 404 (an unknown
# path) in the same run. Prints a RESULT line with the ratio (goal: clicks/s >= 50 % of 404s/s).
#
# env: DURATION (seconds per wrk run, default 10), CONNS (default 32), REPEATS (default 3).
set -euo pipefail
BUILD="${1:-build}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DURATION="${DURATION:-10}"; CONNS="${CONNS:-32}"; REPEATS="${REPEATS:-3}"
command -v wrk >/dev/null || { echo "wrk missing: run 'make deps'"; exit 1; }
TMP="$(mktemp -d /var/tmp/kurier-clickbench.XXXXXX)"
HPORT="${KURIER_API_PORT:-8027}"
K="$ROOT/$BUILD/kurier"
"$K" init --dir "$TMP/k" --json --sender-domain bench.test --set "api.listen=127.0.0.1:$HPORT" \
  --set "smtp.submission.listen=127.0.0.1:$((HPORT + 1))" --set smtp.submissions.enabled=false --set api.max_connections=10000 --set api.max_connections_per_ip=0 \
  --set log.level=warn --set delivery.enabled=false >"$TMP/init.json"
KEY=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['api_key'])" "$TMP/init.json")
DATA=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['data_dir'])" "$TMP/init.json")
"$K" serve --config "$TMP/k/kurier.toml" 2>"$TMP/serve.log" &
KPID=$!
cleanup() { kill "$KPID" 2>/dev/null || true; wait "$KPID" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$HPORT) 2>/dev/null && break; sleep 0.1; done
median() { python3 -c "import statistics,sys; print('%.0f' % statistics.median([float(x) for x in sys.argv[1:]]))" "$@"; }

# One message with a tracked link; its click URL is read back from the queued copy.
ID=$(curl -sS -X POST "http://127.0.0.1:$HPORT/v1/messages" -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
  --data '{"from":"shop@bench.test","to":"reader@example.net","subject":"Offer","text":"x","track_clicks":true,"html":"<p><a href=\"https://shop.example/offer?id=7\">offer</a></p>"}' |
  python3 -c "import json,sys; print(json.load(sys.stdin)['messages'][0]['id'])")
CLICK=$("$K" queue show "$ID" --raw --config "$TMP/k/kurier.toml" | python3 -c "
import email, email.policy, re, sys
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
print(re.search(r'href=\"(http://[^\"]+/t/c/[^\"]+)\"', m.get_body(('html',)).get_content()).group(1))")
[ "$(curl -s -o /dev/null -w '%{http_code}' "$CLICK")" = 302 ] || { echo "the click URL does not redirect"; exit 1; }
cat >"$TMP/count.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("WRK requests=%d non2xx3xx=%d errors=%d\n", summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
cpu_ticks() { awk '{print $14 + $15}' "/proc/$KPID/stat"; }  # the server's user + system CPU, in clock ticks
run_wrk() {  # run_wrk URL -> "requests/s server-CPU-µs-per-request"
  local out t0 t1 rate reqs
  t0=$(cpu_ticks)
  out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" -s "$TMP/count.lua" "$1")
  t1=$(cpu_ticks)
  rate=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out")
  reqs=$(sed -n 's/^WRK requests=\([0-9]*\).*/\1/p' <<<"$out")
  echo "$rate $(python3 -c "import os,sys; print('%.1f' % ((int(sys.argv[2]) - int(sys.argv[1])) * 1e6 / os.sysconf('SC_CLK_TCK') / max(1, int(sys.argv[3]))))" "$t0" "$t1" "$reqs")"
}
echo "# $(date -Is) nproc=$(nproc) load=[$(cut -d' ' -f1-3 /proc/loadavg)] conns=$CONNS duration=${DURATION}s repeats=$REPEATS"
run_wrk "$CLICK" >/dev/null  # warm-up
C=(); F=()
for r in $(seq "$REPEATS"); do
  read -r c cc < <(run_wrk "$CLICK"); C+=("$c")
  # Opens and clicks go through the event journal (store/event_journal.hpp): what it still held when
  # wrk stopped, so that a backlog growing from run to run would show.
  backlog=$(python3 -c "
import os, sqlite3, sys
data = open(sys.argv[1] + '/events.journal', 'rb').read()
size = len(data.split(b'\\0', 1)[0])  # the data ends at the first NUL (the file is allocated ahead)
db = sqlite3.connect('file:' + sys.argv[1] + '/kurier.db?mode=ro', uri=True)
row = db.execute(\"SELECT position FROM journal_positions WHERE name = 'events'\").fetchone()
print(size - (row[0] if row else 0))" "$DATA")
  read -r f fc < <(run_wrk "http://127.0.0.1:$HPORT/no/such/path"); F+=("$f")
  echo "run$r clicks_per_s=$c (server CPU ${cc} µs each) plain_404_per_s=$f (${fc} µs each) journal_backlog_bytes=$backlog"
done
CM=$(median "${C[@]}"); FM=$(median "${F[@]}")
RECORDED=$(curl -sS "http://127.0.0.1:$HPORT/v1/stats" -H "Authorization: Bearer $KEY" | python3 -c "import json,sys; print(json.load(sys.stdin)['totals']['clicked']['total'])")
echo "clicked events recorded: $RECORDED"
echo "RESULT click endpoint: median=$CM clicks/s (each recorded) vs plain 404 median=$FM/s, ratio=$(python3 -c "print('%.2f' % ($CM / $FM))")x (goal >= 0.5x)"
