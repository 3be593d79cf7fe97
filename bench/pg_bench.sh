#!/usr/bin/env bash
# bench/pg_bench.sh BUILD - kurier on PostgreSQL (issue 16), end to end (relay listener -> spool ->
# delivery -> smtp-sink, 32 sessions), in one run: one node on SQLite, one node on PostgreSQL, two nodes on
# the same PostgreSQL; and the database's own ceiling of durable commits per second (pgbench, one-row
# inserts with synchronous_commit = on), which bounds what nodes can add. The PostgreSQL server is a
# default one of this machine's (fsync and synchronous_commit on) in a temporary directory.
# Prints RESULT lines; `make bench` (bench/run.sh) compares the PostgreSQL node with Postfix.
# env: N (messages per run, default 20000).
set -euo pipefail
BUILD="${1:-build}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${N:-20000}"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
TMP="$(mktemp -d /var/tmp/kurier-pgbench.XXXXXX)"
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
AS=(); [ "$(id -u)" = 0 ] && { chown postgres: "$TMP"; AS=(setpriv --reuid=postgres --regid=postgres --init-groups); }
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$TMP/pg" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
"${AS[@]}" "$PGBIN/initdb" -D "$TMP/pg" -U kurier --auth=trust -E UTF8 >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$TMP/pg" -l "$TMP/pg.log" -w -o "-p $PGPORT -c listen_addresses=127.0.0.1 -k $TMP -c max_connections=200" start >/dev/null
PGPID=$(head -1 "$TMP/pg/postmaster.pid")
URL="postgresql://kurier@127.0.0.1:$PGPORT"
echo "# $(date -Is) nproc=$(nproc) N=$N PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') (fsync on, synchronous_commit on)"

echo "== database ceiling: pgbench, 32 clients, one-row INSERT per transaction, 10 s"
"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U kurier pgb
"$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U kurier -q -d pgb -c "CREATE TABLE t(id bigserial primary key, v text)"
echo "INSERT INTO t(v) VALUES (repeat('x', 100));" > "$TMP/insert.sql"
TPS=$("$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U kurier -n -c 32 -j 2 -T 10 -f "$TMP/insert.sql" pgb 2>/dev/null |
      sed -n 's/^tps = \([0-9.]*\).*/\1/p')
echo "RESULT pg commits: $TPS durable single-row transactions/s (pgbench, 32 clients)"

node() {  # node NAME PORT [store.url] -> starts a delivering node relaying to the sink, prints its pid
  local dir="$TMP/$1" port="$2" url="${3:-}"
  local sets=(--set smtp.relay.enabled=true --set "smtp.relay.listen=127.0.0.1:$port"
              --set smtp.submission.enabled=false --set smtp.submissions.enabled=false --set api.enabled=false
              --set log.level=warn --set smtp.limits.max_connections_per_ip=1000
              --set delivery.direct=false --set 'delivery.backup_relays=["smtp://127.0.0.1:2526"]'
              --set delivery.max_connections_per_domain=32 --set delivery.backup_check_interval=0)
  [ -n "$url" ] && sets+=(--set "store.url=$url" --set store.pool_size=16)
  "$ROOT/$BUILD/kurier" init --dir "$dir" --json "${sets[@]}" >/dev/null
  [ -n "${SECRET_FROM:-}" ] && cp "$SECRET_FROM" "$dir/secret.key"
  "$ROOT/$BUILD/kurier" serve --config "$dir/kurier.toml" >"$dir.out" 2>"$dir.log" &
  local pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  echo "$pid"
}
empty() { echo "test \"\$('$ROOT/$BUILD/kurier' queue list --json --config '$TMP/$1/kurier.toml')\" = '[]'"; }
run() { python3 "$ROOT/bench/pg_nodes.py" --pg-pid "$PGPID" -n "$N" -s 32 "$@" | tee -a "$TMP/results" | sed 's/^RESULT-LINE /  /'; }

echo "== one node on SQLite"
P=$(node sqlite 2631); PIDS+=("$P")
run --name sqlite-1node --target 127.0.0.1:2631 --pid "$P" --queue-empty-cmd "$(empty sqlite)"
kill "$P"; wait "$P" 2>/dev/null || true

echo "== one node on PostgreSQL"
"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U kurier one
P=$(node pg1 2632 "$URL/one"); PIDS+=("$P")
run --name pg-1node --target 127.0.0.1:2632 --pid "$P" --queue-empty-cmd "$(empty pg1)"
kill "$P"; wait "$P" 2>/dev/null || true

echo "== two nodes on one PostgreSQL (the two nodes and the server share this machine's cores)"
"$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U kurier two
A=$(node pgA 2633 "$URL/two"); PIDS+=("$A")
B=$(SECRET_FROM="$TMP/pgA/secret.key" node pgB 2634 "$URL/two"); PIDS+=("$B")
run --name pg-2nodes --target 127.0.0.1:2633 --target 127.0.0.1:2634 --pid "$A" --pid "$B" \
  --queue-empty-cmd "$(empty pgA)" --queue-empty-cmd "$(empty pgB)"

python3 - "$TMP/results" <<'PY'
import re, sys
r = {}
for line in open(sys.argv[1]):
    m = re.match(r"RESULT-LINE (\S+) e2e_mps=(\d+) seconds=\S+ cpu_kurier=(\S+) cpu_postgres=(\S+)", line)
    if m:
        r[m.group(1)] = (float(m.group(2)), float(m.group(3)), float(m.group(4)))
s, p1, p2 = r["sqlite-1node"], r["pg-1node"], r["pg-2nodes"]
print("RESULT pg e2e s=32: one PostgreSQL node %.0f msgs/s, one SQLite node %.0f msgs/s, ratio %.2fx" % (p1[0], s[0], p1[0] / s[0]))
print("RESULT pg scaling s=32: two nodes %.0f msgs/s vs one node %.0f msgs/s on the same PostgreSQL, ratio %.2fx "
      "(CPU s during the run: one node kurier %.1f + postgres %.1f; two nodes kurier %.1f + postgres %.1f; 2 cores shared)"
      % (p2[0], p1[0], p2[0] / p1[0], p1[1], p1[2], p2[1], p2[2]))
PY
