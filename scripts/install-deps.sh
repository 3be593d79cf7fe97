#!/usr/bin/env bash
# install-deps.sh - installs every Debian 12 package kurier needs to build, run and test.
# Idempotent: installs only what is missing. Never starts a daemon during install (policy-rc.d).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

BUILD_PKGS=(build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev
  libssl-dev libsqlite3-dev libsodium-dev libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev libunbound-dev libevent-dev libpq-dev libidn2-dev clang libclang-rt-14-dev
  libkainjow-mustache-dev python3-markdown)
TEST_PKGS=(wrk python3 python3-pytest python3-aiosmtpd python3-dkim python3-authres opendkim-tools libmail-dkim-perl swaks libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl msmtp curl openssl sqlite3
  php-cli libphp-phpmailer nmap postfix unbound universal-ctags iproute2 jq postgresql-15)
# `make security` only (scripts/security.sh installs them on demand with --security): testssl.sh and nmap.
SECURITY_PKGS=(testssl.sh nmap)
# node and npm: the machine's own (Debian's nodejs conflicts with it); installed from Debian only when absent.
command -v npm >/dev/null || TEST_PKGS+=(nodejs npm)

want=("${BUILD_PKGS[@]}")
case "${1:-}" in
  --build-only) ;;
  --security) want=("${SECURITY_PKGS[@]}") ;;
  *) want+=("${TEST_PKGS[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "# installing: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  # Postfix must not configure or start a system instance: tests run their own on loopback.
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  policy_created=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d; policy_created=1
  fi
  $SUDO apt-get -o DPkg::Lock::Timeout=900 update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "${missing[@]}"
  [ $policy_created -eq 0 ] || $SUDO rm -f /usr/sbin/policy-rc.d
fi

# nodemailer (an SMTP client) and @redocly/cli (the OpenAPI linter) for the end-to-end tests (npm
# registry), kept outside the repo's tracked files.
if [ "${1:-}" != "--build-only" ] && [ "${1:-}" != "--security" ] && { [ ! -d tests/e2e/node_modules/nodemailer ] || [ ! -x tests/e2e/node_modules/.bin/redocly ]; }; then
  (cd tests/e2e && npm install --no-audit --no-fund --silent >/dev/null 2>&1) || echo "# warning: npm install of the e2e packages failed" >&2
fi
