#!/usr/bin/env bash
# run.sh KURIER DATA - `make run`: initialise DATA once (printing the credentials), then serve.
set -euo pipefail
BIN="$1"; DATA="$2"
if [ ! -f "$DATA/kurier.toml" ]; then
  "$BIN" init --dir "$DATA"
  echo
fi
CFG="$DATA/kurier.toml"
sub=$(sed -n '/^\[smtp.submission\]/,/^\[/s/^listen = "\(.*\)"/\1/p' "$CFG")
subs=$(sed -n '/^\[smtp.submissions\]/,/^\[/s/^listen = "\(.*\)"/\1/p' "$CFG")
cat <<EOT
kurier is starting on submission $sub (STARTTLS) and submissions $subs (implicit TLS).
Send a message with the SMTP credential printed when $DATA was initialised, e.g.:

  swaks --server $sub -tls -au default -ap PASSWORD --from me@example.com --to you@example.net

Then look at the queue:   $BIN queue list --config $CFG
Lost the password? Create another credential:   $BIN smtp-user add default --config $CFG
Stop the server with Ctrl-C.

EOT
exec "$BIN" serve --config "$CFG"
