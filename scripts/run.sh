#!/usr/bin/env bash
# run.sh KURIER DATA - `make run`: initialise DATA once (printing the credentials), then serve.
# The configuration is read with `kurier config get` (kurier's own TOML reader), never parsed here.
set -euo pipefail
BIN="$1"; DATA="$2"
CFG="$DATA/kurier.toml"
get() { "$BIN" config get "$1" --config "$CFG"; }

# The files `kurier init` writes; an install without one of them is not complete.
incomplete() {
  [ -f "$CFG" ] || { echo "$CFG is missing"; return; }
  local key path
  for key in server.data_dir store.sqlite_path spool.path tls.certificate tls.private_key; do
    path=$(get "$key" 2>&1) || { echo "$path"; return; }
    [ -e "$path" ] || { echo "$key $path is missing"; return; }
  done
}

if [ ! -e "$DATA" ] || { [ -d "$DATA" ] && [ -z "$(ls -A "$DATA")" ]; }; then
  "$BIN" init --dir "$DATA"
  echo
elif problem=$(incomplete) && [ -n "$problem" ]; then
  cat >&2 <<EOT
make run: $DATA is not a complete kurier install: $problem.
It is most likely what an interrupted 'kurier init' of an older kurier left behind (kurier init now
writes nothing unless it completes). If nothing in it is needed, remove it and run 'make run' again,
which initialises a new one:

  rm -r $DATA && make run

or keep it and use another directory:   make run DATA=DIR
EOT
  exit 1
fi

# "0.0.0.0:587" is reached at 127.0.0.1:587, "[::]:587" at [::1]:587.
reachable() { case "$1" in 0.0.0.0:*) echo "127.0.0.1:${1#0.0.0.0:}" ;; "[::]:"*) echo "[::1]:${1#\[::\]:}" ;; *) echo "$1" ;; esac; }
listener() { if [ "$(get "$1.enabled")" = true ]; then reachable "$(get "$1.listen")"; else echo off; fi; }
sub=$(listener smtp.submission)
subs=$(listener smtp.submissions)
api=off
[ "$(get api.enabled)" = true ] && api=$(reachable "$(get api.listen)")
cert=$(get tls.certificate)
if command -v openssl >/dev/null && [ "$(openssl x509 -in "$cert" -noout -subject 2>/dev/null | sed 's/^subject=//')" = \
     "$(openssl x509 -in "$cert" -noout -issuer 2>/dev/null | sed 's/^issuer=//')" ]; then
  trust="self-signed: clients trust it with this file, e.g. swaks --tls-verify --tls-ca-path $cert, curl --cacert $cert"
else
  trust="reloaded when it changes (certbot renewals) and on SIGHUP"
fi
cat <<EOT
kurier is starting:
  submission    $sub (STARTTLS)
  submissions   $subs (implicit TLS)
  HTTP API      $([ "$api" = off ] && echo off || echo "http://$api (OpenAPI document: http://$api/v1/openapi.json)")
  certificate   $cert
                ($trust)

Send a message with the SMTP credential printed when $DATA was initialised, e.g.:

  swaks --server $sub -tls -au default -ap PASSWORD --from me@example.com --to you@example.net
EOT
if [ "$api" != off ]; then
  cat <<EOT

or over HTTP with the API key printed then:

  curl -H "Authorization: Bearer API_KEY" -H "Content-Type: application/json" http://$api/v1/messages \\
    -d '{"from": "me@example.com", "to": "you@example.net", "subject": "Hi", "text": "Hello"}'
EOT
fi
cat <<EOT

Then look at the queue:   $BIN queue list --config $CFG
Lost the password? Create another credential:   $BIN smtp-user add default --config $CFG
Lost the API key? Create another:   $BIN api-key create default --scopes "send read" --config $CFG
Stop the server with Ctrl-C.

EOT
exec "$BIN" serve --config "$CFG"
