#!/usr/bin/env bash
# security.sh [BUILD] - `make security` (not part of `make test`): probes a kurier of its own, started
# from a fresh `kurier init` in a temporary directory on loopback, the way an outsider would, and runs
# the project's attack corpora. Prints one line per check, `PASS|FAIL name: detail`, and exits 1 when
# any check fails. What each check means: docs/security.md.
#
#   testssl-submission.*   testssl.sh --starttls smtp against the submission listener (STARTTLS)
#   testssl-submissions.*  testssl.sh against the submissions listener (implicit TLS, 465)
#   nmap-open-relay-*      nmap's smtp-open-relay script against submission, relay and the bounce
#                          listener (the relay listener trusts 10.0.0.0/8 only, so the scanner on
#                          127.0.0.1 is an outsider), and the queue stays empty
#   file-modes             every file of the running instance's data directory is 0600, directories 0700
#   pytest-*               the corpora that exist in tests/e2e: SMTP smuggling, SMTP and HTTP hardening
#                          (items of issue 12), TLS policy, files at rest, open relay
#
# Environment: KURIER_BIN (default BUILD/kurier), KEEP=1 keeps the temporary directory.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
BIN=${KURIER_BIN:-$REPO/$BUILD/kurier}
PY=/usr/bin/python3
HOST=127.0.0.1
fails=0
pid=""

pass() { echo "PASS $1: $2"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
note() { echo "# $*" >&2; }

[ -x "$BIN" ] || { echo "FAIL setup: $BIN is not an executable kurier; run 'make build' or set KURIER_BIN"; exit 1; }
# testssl.sh and nmap are needed by this target only; install them on demand (Debian packages).
if ! command -v testssl >/dev/null || ! command -v nmap >/dev/null; then
  note "installing testssl.sh and nmap (scripts/install-deps.sh --security)"
  (cd "$REPO" && bash scripts/install-deps.sh --security) >&2 || { echo "FAIL setup: cannot install testssl.sh and nmap"; exit 1; }
fi

work=$(mktemp -d /tmp/kurier-security.XXXXXX)
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
  if [ "${KEEP:-0}" = 1 ]; then note "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

read -r P_SUB P_SUBS P_RELAY P_INBOUND P_API P_DNS < <($PY -c '
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
for s in socks: s.close()')

DATA="$work/kurier"
# Delivery stays on (so the control socket exists) with a DNS server that is not there: nothing leaves.
if ! "$BIN" init --dir "$DATA" --json \
    --set "smtp.submission.listen=$HOST:$P_SUB" --set "smtp.submissions.listen=$HOST:$P_SUBS" \
    --set "smtp.relay.enabled=true" --set "smtp.relay.listen=$HOST:$P_RELAY" \
    --set 'smtp.relay.networks=["10.0.0.0/8"]' \
    --set "smtp.inbound.enabled=true" --set "smtp.inbound.listen=$HOST:$P_INBOUND" \
    --set "api.listen=$HOST:$P_API" --set "dns.forward=$HOST@$P_DNS" >"$work/init.json" 2>"$work/init.err"; then
  echo "FAIL setup: kurier init failed: $(cat "$work/init.err")"
  exit 1
fi
"$BIN" serve --config "$DATA/kurier.toml" >"$work/serve.log" 2>&1 &
pid=$!
for port in $P_SUB $P_SUBS $P_RELAY $P_INBOUND $P_API; do
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { echo "FAIL setup: kurier serve exited: $(tail -5 "$work/serve.log")"; exit 1; }
    sleep 0.1
  done
done
note "$("$BIN" --version 2>&1) serving in $DATA: submission $P_SUB, submissions $P_SUBS, relay $P_RELAY, inbound $P_INBOUND"

# --- file modes of the running instance (WAL files, journal and control socket exist now)
if out=$($PY - "$DATA" <<'EOF'
import os, stat, sys
root = sys.argv[1]
bad, files, dirs = [], 0, 0
for d, subdirs, names in os.walk(root):
    for p in [d] + [os.path.join(d, n) for n in names]:
        st = os.lstat(p)
        m = stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            dirs += p == d
            if m != 0o700: bad.append(f"{os.path.relpath(p, root)} {m:04o}")
        elif not stat.S_ISLNK(st.st_mode):
            files += 1
            if m != 0o600: bad.append(f"{os.path.relpath(p, root)} {m:04o}")
if bad:
    print("not owner-only: " + ", ".join(bad)); sys.exit(1)
print(f"{files} files 0600 and {dirs} directories 0700 (database and WAL, spool, journal, secret, TLS key, control socket)")
EOF
); then pass file-modes "$out"; else fail file-modes "$out"; fi

# --- testssl.sh against both SMTP TLS listeners
for target in "submission:$P_SUB:--starttls smtp" "submissions:$P_SUBS:"; do
  IFS=: read -r name port extra <<<"$target"
  json="$work/testssl-$name.json"
  # shellcheck disable=SC2086
  timeout 900 testssl --quiet --color 0 --warnings off --jsonfile "$json" $extra "$HOST:$port" >"$work/testssl-$name.txt" 2>&1
  if [ -s "$json" ]; then
    $PY "$REPO/scripts/testssl_verdict.py" "testssl-$name" "$json"
    rc=$?
    [ $rc -eq 0 ] || fails=$((fails + 1))
  else
    fail "testssl-$name" "testssl.sh wrote no results; see $work/testssl-$name.txt (KEEP=1 keeps it)"
  fi
done

# --- nmap smtp-open-relay against the listeners that take mail without AUTH or before it
for target in "submission:$P_SUB" "relay:$P_RELAY" "inbound:$P_INBOUND"; do
  IFS=: read -r name port <<<"$target"
  out=$(timeout 300 nmap -n -Pn -sT -p "$port" --script +smtp-open-relay \
    --script-args "smtp-open-relay.domain=ext.test,smtp-open-relay.ip=$HOST,smtp-open-relay.to=victim,smtp-open-relay.from=antispam" \
    "$HOST" 2>&1)
  verdict=$(grep -oE "Server (is an open relay|isn't an open relay|doesn't seem to be an open relay)[^|]*" <<<"$out" | head -1)
  greeting=""
  if [ -z "$verdict" ]; then  # a listener that refuses the scanner at the greeting ends nmap's script early
    greeting=$(exec 3<>"/dev/tcp/$HOST/$port" && timeout 5 head -n 1 <&3 | tr -d '\r')
  fi
  if grep -q "Server is an open relay" <<<"$out"; then
    fail "nmap-open-relay-$name" "$verdict"
  elif [ -n "$verdict" ]; then
    pass "nmap-open-relay-$name" "$verdict (port $port)"
  elif [[ "$greeting" == 5* ]]; then
    pass "nmap-open-relay-$name" "the scanner (outside smtp.relay.networks) is refused at the greeting: $greeting; nmap: $(grep -o 'smtp-open-relay: .*' <<<"$out" | head -1)"
  else
    fail "nmap-open-relay-$name" "nmap gave no verdict: $(tr '\n' ' ' <<<"$out" | tail -c 300)"
  fi
done
queued=$("$BIN" queue list --json --config "$DATA/kurier.toml" 2>&1)
if [ "$queued" = "[]" ]; then
  pass nmap-open-relay-queue "nothing was queued by the relay probes"
else
  fail nmap-open-relay-queue "the probes left mail in the queue: $queued"
fi

kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=""

# --- the project's attack corpora (each starts kurier instances of its own)
for f in test_smuggling.py test_hardening_smtp.py test_hardening_http.py test_hardening_input.py test_tls_policy.py \
         test_files_at_rest.py test_open_relay.py; do
  if [ ! -f "$REPO/tests/e2e/$f" ]; then
    note "tests/e2e/$f is not in this tree; not run"
    continue
  fi
  log="$work/pytest-${f%.py}.log"
  (cd "$REPO" && KURIER_BIN="$BIN" timeout 1800 $PY -m pytest "tests/e2e/$f" -q -p no:cacheprovider >"$log" 2>&1)
  rc=$?
  summary=$(grep -E "[0-9]+ (passed|failed|error)" "$log" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//')
  if [ $rc -eq 0 ]; then
    pass "pytest-${f%.py}" "${summary:-passed}"
  else
    fail "pytest-${f%.py}" "${summary:-exit $rc}; failed: $(grep -E '^(FAILED|ERROR) ' "$log" | head -5 | tr '\n' ' ')"
  fi
done

if [ $fails -gt 0 ]; then
  echo "# $fails check(s) failed" >&2
  exit 1
fi
echo "# all checks passed" >&2
