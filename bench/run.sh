#!/usr/bin/env bash
# bench/run.sh BUILD - `make bench`: SMTP injection into kurier's relay listener and into Postfix,
# measured in the same run with the same load generator (smtp-source), and the session core's
# CPU cost (Google Benchmark). Prints msgs/s for both and the ratio; appends to $RESULTS_DIR.
#
# env: N (messages per run, default 20000), REPEATS (default 3), SESSIONS (default 32),
#      SKIP_POSTFIX=1 to measure kurier only.
set -euo pipefail
BUILD="${1:-build}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PEERS="${PEERS:-$ROOT/../shared/bench-peers}"
N="${N:-20000}"; REPEATS="${REPEATS:-3}"; SESSIONS="${SESSIONS:-32}"
RESULTS_DIR="${RESULTS_DIR:-/var/tmp/kurier-bench/results}"
mkdir -p "$RESULTS_DIR"
OUT="$RESULTS_DIR/kurier-inject-$(date +%Y%m%d-%H%M%S).log"
exec > >(tee "$OUT") 2>&1
command -v smtp-source >/dev/null || { echo "smtp-source missing: run 'make deps' (postfix package)"; exit 1; }
echo "# $(date -Is) nproc=$(nproc) load=[$(cut -d' ' -f1-3 /proc/loadavg)] N=$N repeats=$REPEATS sessions=$SESSIONS"

echo "== session core (Google Benchmark, no I/O)"
"$ROOT/$BUILD/kurier_session_bench" --benchmark_min_time=1 2>/dev/null | grep -E "^BM_|Benchmark"

echo "== DKIM signing of a 10 KB message (Google Benchmark) beside openssl speed, same run"
DK=$("$ROOT/$BUILD/kurier_dkim_bench" --benchmark_format=json 2>/dev/null)
OS=$(openssl speed -seconds 3 rsa2048 ed25519 2>/dev/null)
python3 - "$DK" "$OS" <<'PY'
import json, re, sys
dk = {b["name"]: b["items_per_second"] for b in json.loads(sys.argv[1])["benchmarks"]}
ossl = sys.argv[2]
rsa = float(re.search(r"^rsa\s+2048 bits\s+\S+s\s+\S+s\s+([\d.]+)", ossl, re.M).group(1))
ed = float(re.search(r"^\s*253 bits EdDSA \(Ed25519\)\s+\S+s\s+\S+s\s+([\d.]+)", ossl, re.M).group(1))
for name, ours, theirs in (("RSA-2048", dk["BM_SignRsa2048/min_time:2.000"], rsa), ("Ed25519", dk["BM_SignEd25519/min_time:2.000"], ed)):
    print("RESULT dkim %s: kurier %.0f signatures/s (10 KB message), openssl speed %.0f sign/s, %.0f%% (goal >= 85%%)" % (name, ours, theirs, 100 * ours / theirs))
PY

# ---- kurier: relay listener, fsync on --------------------------------------------------------
TMP="$(mktemp -d /var/tmp/kurier-bench.XXXXXX)"
PORT="${KURIER_RELAY_PORT:-2625}"
"$ROOT/$BUILD/kurier" init --dir "$TMP/k" --json \
  --set smtp.relay.enabled=true --set "smtp.relay.listen=127.0.0.1:$PORT" \
  --set smtp.submission.enabled=false --set smtp.submissions.enabled=false \
  --set log.level=warn --set smtp.limits.max_connections_per_ip=1000 --set delivery.enabled=false >/dev/null
"$ROOT/$BUILD/kurier" serve --config "$TMP/k/kurier.toml" 2>"$TMP/serve.log" &
KPID=$!
cleanup() { kill "$KPID" 2>/dev/null || true; wait "$KPID" 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done

inject() {  # inject TARGET SESSIONS COUNT -> prints msgs/s
  local t0 t1
  t0=$(date +%s.%N)
  smtp-source -s "$2" -l 4096 -m "$3" -f from@example.com -t to@example.net "$1" >/dev/null
  t1=$(date +%s.%N)
  python3 -c "print('%.0f' % ($3 / ($t1 - $t0)))"
}
median() { python3 -c "import statistics,sys; print('%.0f' % statistics.median([float(x) for x in sys.argv[1:]]))" "$@"; }

echo "== kurier relay listener 127.0.0.1:$PORT (fsync before 250, group commit), $SESSIONS sessions"
inject "127.0.0.1:$PORT" 8 500 >/dev/null   # warm-up
K=()
for r in $(seq "$REPEATS"); do
  v=$(inject "127.0.0.1:$PORT" "$SESSIONS" "$N"); K+=("$v"); echo "kurier run$r inject_mps=$v"; sleep 1
done
spooled=$("$ROOT/$BUILD/kurier" queue list --count --config "$TMP/k/kurier.toml" | tail -1)
echo "kurier spool after the runs: $spooled (expected $((N * REPEATS + 500)))"
KMED=$(median "${K[@]}")
cleanup; trap - EXIT

# ---- kurier end to end: relay listener -> spool -> delivery -> smtp-sink ------------------------
# Configured like the Postfix peer (relayhost = [127.0.0.1]:2526): direct delivery off and smtp-sink
# as the one relay, so both hand every message to the same sink.
TMP="$(mktemp -d /var/tmp/kurier-bench.XXXXXX)"
"$ROOT/$BUILD/kurier" init --dir "$TMP/k" --json \
  --set smtp.relay.enabled=true --set "smtp.relay.listen=127.0.0.1:$PORT" \
  --set smtp.submission.enabled=false --set smtp.submissions.enabled=false \
  --set log.level=warn --set smtp.limits.max_connections_per_ip=1000 \
  --set delivery.direct=false --set 'delivery.backup_relays=["smtp://127.0.0.1:2526"]' \
  --set delivery.max_connections_per_domain=32 --set delivery.backup_check_interval=0 >/dev/null
"$ROOT/$BUILD/kurier" serve --config "$TMP/k/kurier.toml" 2>"$TMP/serve.log" &
KPID=$!
trap cleanup EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
KEMPTY="test \"\$('$ROOT/$BUILD/kurier' queue list --json --config '$TMP/k/kurier.toml')\" = '[]'"
ELOG="$(mktemp)"
echo "== kurier end to end (relay listener -> delivery -> smtp-sink), 32 and 1 sessions"
python3 "$PEERS/relay_bench.py" --name kurier-s32 --target "127.0.0.1:$PORT" -n "$N" -s 32 --repeats "$REPEATS" \
  --queue-empty-cmd "$KEMPTY" | tee -a "$ELOG" | grep -E "run[0-9]|SUMMARY"
python3 "$PEERS/relay_bench.py" --name kurier-s1 --target "127.0.0.1:$PORT" -n "$N" -s 1 --repeats "$REPEATS" \
  --queue-empty-cmd "$KEMPTY" | tee -a "$ELOG" | grep -E "run[0-9]|SUMMARY"
KE32=$(sed -n 's/^SUMMARY kurier-s32 *e2e msgs\/s.*median=\([0-9.]*\).*/\1/p' "$ELOG")
KE1=$(sed -n 's/^SUMMARY kurier-s1 *e2e msgs\/s.*median=\([0-9.]*\).*/\1/p' "$ELOG")
rm -f "$ELOG"
cleanup; trap - EXIT

# ---- Postfix, set up by the shared peer script ------------------------------------------------
PMED=""
if [ -z "${SKIP_POSTFIX:-}" ]; then
  echo "== postfix (../shared/bench-peers/02_postfix.sh), $SESSIONS sessions"
  PLOG="$(mktemp)"
  SKIP_BASELINE=1 bash "$PEERS/02_postfix.sh" "$N" "$REPEATS" >"$PLOG" 2>&1 || { tail -20 "$PLOG"; exit 1; }
  grep -E "^postfix-s(32|1) run|SUMMARY" "$PLOG" || true
  PMED=$(sed -n 's/^SUMMARY postfix-s32 *inject msgs\/s.*median=\([0-9.]*\).*/\1/p' "$PLOG")
  PE32=$(sed -n 's/^SUMMARY postfix-s32 *e2e msgs\/s.*median=\([0-9.]*\).*/\1/p' "$PLOG")
  PE1=$(sed -n 's/^SUMMARY postfix-s1 *e2e msgs\/s.*median=\([0-9.]*\).*/\1/p' "$PLOG")
  rm -f "$PLOG"

  # The shared script measures Postfix injecting while it also relays to smtp-sink on the same two
  # cores. kurier has no outbound delivery yet, so also measure Postfix with delivery held
  # (defer_transports = smtp: it accepts and fsyncs exactly as before, but nothing leaves) -
  # the like-for-like injection figure. The configuration 02_postfix.sh left in place is reused.
  echo "== postfix with delivery held (defer_transports = smtp), $SESSIONS sessions"
  postconf -e "defer_transports = smtp"
  postfix start >/dev/null 2>&1
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/2525) 2>/dev/null && break; sleep 0.2; done
  inject 127.0.0.1:2525 8 500 >/dev/null
  H=()
  for r in $(seq "$REPEATS"); do
    v=$(inject 127.0.0.1:2525 "$SESSIONS" "$N"); H+=("$v"); echo "postfix-held run$r inject_mps=$v"
    postsuper -d ALL >/dev/null 2>&1 || true; sleep 1
  done
  postfix stop >/dev/null 2>&1 || true
  postsuper -d ALL >/dev/null 2>&1 || true
  postconf -X defer_transports
  HMED=$(median "${H[@]}")
fi

echo "== PostgreSQL: one node on SQLite, one and two nodes on PostgreSQL, the database's commit ceiling (bench/pg_bench.sh)"
PG_LINES=$(N="$N" bash "$ROOT/bench/pg_bench.sh" "$BUILD" | tee /dev/stderr | grep RESULT || true)
PG1=$(sed -n 's/^RESULT pg e2e s=32: one PostgreSQL node \([0-9]*\) msgs.*/\1/p' <<<"$PG_LINES")

echo "== HTTP API injection (wrk) beside SMTP injection, same server, same run"
HTTP_LINES=$(bash "$ROOT/bench/http_bench.sh" "$BUILD" | tee /dev/stderr | grep RESULT || true)

echo "== click endpoint (wrk) beside the same server's plain 404"
CLICK_LINES=$(bash "$ROOT/bench/click_bench.sh" "$BUILD" | tee /dev/stderr | grep RESULT || true)

echo "== queue memory (1,000,000 deferred recipients)"
MEM_LINE=$(python3 "$ROOT/bench/queue_memory.py" "$ROOT/$BUILD/kurier" | grep RESULT || true)
echo
echo "$MEM_LINE"
echo "$PG_LINES"
echo "RESULT inject s=$SESSIONS l=4096 N=$N: kurier median=$KMED msgs/s${PMED:+, postfix (relaying, shared script) median=$PMED msgs/s, ratio=$(python3 -c "print('%.2f' % ($KMED / $PMED))")x (goal >= 5x)}"
if [ -n "${PE32:-}" ]; then
  echo "RESULT e2e s=32 l=4096 N=$N: kurier median=$KE32 msgs/s, postfix median=$PE32 msgs/s, ratio=$(python3 -c "print('%.2f' % ($KE32 / $PE32))")x (goal >= 5x)"
  echo "RESULT e2e s=1 l=4096 N=$N: kurier median=$KE1 msgs/s, postfix median=$PE1 msgs/s, ratio=$(python3 -c "print('%.2f' % ($KE1 / $PE1))")x (goal >= 2x)"
  [ -n "$PG1" ] && echo "RESULT e2e s=32 on PostgreSQL l=4096 N=$N: one kurier node on PostgreSQL $PG1 msgs/s, postfix median=$PE32 msgs/s, ratio=$(python3 -c "print('%.2f' % ($PG1 / $PE32))")x (goal >= 3x)"
fi
[ -n "${HMED:-}" ] && echo "RESULT inject s=$SESSIONS l=4096 N=$N: kurier median=$KMED msgs/s, postfix (delivery held) median=$HMED msgs/s, ratio=$(python3 -c "print('%.2f' % ($KMED / $HMED))")x"
[ -n "${HTTP_LINES:-}" ] && echo "$HTTP_LINES"
[ -n "${CLICK_LINES:-}" ] && echo "$CLICK_LINES"
echo "# log: $OUT"
