#!/usr/bin/env bash
# bench/http_bench.sh BUILD - HTTP API injection (issue 5): wrk with keep-alive and a Lua body against
# POST /v1/messages, single-recipient sends/s and batch recipients/s (100 per request), beside kurier's
# own SMTP injection (smtp-source, 32 sessions) into the same server in the same run. Every send is
# durable (spool fsync before 202), as for SMTP's 250. Prints RESULT lines with the ratios.
#
# env: DURATION (seconds per wrk run, default 10), CONNS (wrk connections, default 32), N (SMTP
#      messages, default 20000), REPEATS (default 3).
set -euo pipefail
BUILD="${1:-build}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DURATION="${DURATION:-10}"; CONNS="${CONNS:-32}"; N="${N:-20000}"; REPEATS="${REPEATS:-3}"
command -v wrk >/dev/null || { echo "wrk missing: run 'make deps'"; exit 1; }
command -v smtp-source >/dev/null || { echo "smtp-source missing: run 'make deps' (postfix package)"; exit 1; }
TMP="$(mktemp -d /var/tmp/kurier-httpbench.XXXXXX)"
SPORT="${KURIER_RELAY_PORT:-2626}"; HPORT="${KURIER_API_PORT:-8026}"
"$ROOT/$BUILD/kurier" init --dir "$TMP/k" --json --sender-domain bench.test \
  --set smtp.relay.enabled=true --set "smtp.relay.listen=127.0.0.1:$SPORT" --set "api.listen=127.0.0.1:$HPORT" \
  --set smtp.submission.enabled=false --set smtp.submissions.enabled=false --set api.max_connections=10000 --set api.max_connections_per_ip=0 \
  --set log.level=warn --set smtp.limits.max_connections_per_ip=1000 --set delivery.enabled=false >"$TMP/init.json"
KEY=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['api_key'])" "$TMP/init.json")
"$ROOT/$BUILD/kurier" serve --config "$TMP/k/kurier.toml" 2>"$TMP/serve.log" &
KPID=$!
cleanup() { kill "$KPID" 2>/dev/null || true; wait "$KPID" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$HPORT) 2>/dev/null && break; sleep 0.1; done
median() { python3 -c "import statistics,sys; print('%.0f' % statistics.median([float(x) for x in sys.argv[1:]]))" "$@"; }

# The SMTP reference: the same message size (about 4 KB) into the same server.
inject() {
  local t0 t1
  t0=$(date +%s.%N)
  smtp-source -s "$CONNS" -l 4096 -m "$1" -f from@bench.test -t to@example.net "127.0.0.1:$SPORT" >/dev/null
  t1=$(date +%s.%N)
  python3 -c "print('%.0f' % ($1 / ($t1 - $t0)))"
}

# wrk scripts: one recipient per request, and 100 per request (recipients[] with variables).
python3 - "$TMP" "$KEY" <<'PY'
import json, sys
tmp, key = sys.argv[1], sys.argv[2]
text = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 70)[:4000]
single = {"from": "shop@bench.test", "to": "buyer@example.net", "subject": "Order confirmation", "text": text}
batch = {"from": "shop@bench.test", "subject": "Hello {{name}}", "text": "Dear {{name}},\n" + text,
         "recipients": [{"to": f"user{i}@example.net", "variables": {"name": f"User {i}"}} for i in range(100)]}
for name, body in (("single", single), ("batch", batch)):
    with open(f"{tmp}/{name}.lua", "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write('wrk.headers["Content-Type"] = "application/json"\n')
        f.write(f'wrk.headers["Authorization"] = "Bearer {key}"\n')
        f.write("wrk.body = " + json.dumps(json.dumps(body)) + "\n")
        f.write('done = function(summary, latency, requests)\n'
                '  io.write(string.format("WRK requests=%d non2xx=%d errors=%d\\n", summary.requests, summary.errors.status,\n'
                '    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))\nend\n')
PY

run_wrk() {  # run_wrk SCRIPT -> requests/s (fails on any non-2xx answer)
  local out req non2xx errs
  out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$TMP/$1.lua" "http://127.0.0.1:$HPORT/v1/messages")
  req=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out")
  read -r non2xx errs < <(sed -n 's/^WRK requests=[0-9]* non2xx=\([0-9]*\) errors=\([0-9]*\).*/\1 \2/p' <<<"$out")
  if [ "${non2xx:-1}" != 0 ] || [ "${errs:-1}" != 0 ]; then echo "wrk $1: $non2xx non-2xx answers, $errs socket errors" >&2; echo "$out" >&2; exit 1; fi
  echo "$req"
}

echo "# $(date -Is) nproc=$(nproc) load=[$(cut -d' ' -f1-3 /proc/loadavg)] conns=$CONNS duration=${DURATION}s N=$N repeats=$REPEATS"
inject 500 >/dev/null
run_wrk single >/dev/null  # warm-up
S=(); H=(); B=()
for r in $(seq "$REPEATS"); do
  s=$(inject "$N"); S+=("$s")
  h=$(run_wrk single); H+=("$h")
  b=$(run_wrk batch); B+=("$b")
  echo "run$r smtp_inject_mps=$s http_single_rps=$h http_batch_rps=$b batch_recipients_per_s=$(python3 -c "print('%.0f' % ($b * 100))")"
done
SM=$(median "${S[@]}"); HM=$(median "${H[@]}"); BM=$(median "${B[@]}")
BR=$(python3 -c "print('%.0f' % ($BM * 100))")
queued=$("$ROOT/$BUILD/kurier" queue list --count --config "$TMP/k/kurier.toml" | tail -1)
echo "spool after the runs: $queued"
echo "RESULT http single sends: kurier median=$HM sends/s vs kurier SMTP inject s=$CONNS median=$SM msgs/s, ratio=$(python3 -c "print('%.2f' % ($HM / $SM))")x (goal >= 1x)"
echo "RESULT http batch (100 recipients/request): median=$BR recipients/s vs SMTP $SM msgs/s, ratio=$(python3 -c "print('%.2f' % ($BR / $SM))")x (goal >= 5x)"
