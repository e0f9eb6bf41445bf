#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks for the harness: Debian packages and the Python
# environment. Idempotent: a second run installs nothing and takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(postgresql-15 redis-server redis-tools etcd-server pgbackrest haproxy iptables iproute2 procps python3-venv chromium
  awscli prometheus prometheus-alertmanager prometheus-postgres-exporter prometheus-redis-exporter prometheus-pushgateway
  prometheus-node-exporter postgresql-15-pgaudit)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  # The packages' own services (prometheus on :9090, the exporters, ...) must not start: the harness
  # runs its own, on its own ports. Where no policy-rc.d denies it already, one does for this install.
  guard=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    trap '$SUDO rm -f "$guard"' EXIT
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$guard" >/dev/null && $SUDO chmod 755 "$guard"
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  [ -z "$guard" ] || { $SUDO rm -f "$guard"; trap - EXIT; }
fi

# Patroni runs as the database user, so the interpreter must be one that user can execute: a venv
# made from Debian's /usr/bin/python3, in a directory that user can reach. When the checkout itself
# is not reachable (e.g. under /root), the venv goes to /opt/waqiti-drill/venv and .venv links to it.
VENV=.venv
if [ "$(id -u)" = 0 ] && [ ! -e .venv ] && ! runuser -u postgres -- test -x "$PWD"; then
  VENV=/opt/waqiti-drill/venv
  mkdir -p /opt/waqiti-drill && chmod 755 /opt/waqiti-drill
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating the virtualenv in $VENV from /usr/bin/python3"
  /usr/bin/python3 -m venv "$VENV"
fi
[ "$VENV" = .venv ] || [ -e .venv ] || ln -s "$VENV" .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
# Allure 3 (the npm package `allure`) turns allure-results into HTML without Java; installed into the
# checkout's git-ignored .tools/ where npm exists. Without npm, `drill report` says it skips the Allure HTML.
ALLURE_VERSION=3.18.0
if command -v npm >/dev/null 2>&1; then
  if [ ! -x .tools/allure/node_modules/.bin/allure ]; then
    echo "setup: installing Allure $ALLURE_VERSION (npm) into .tools/allure"
    mkdir -p .tools/allure
    npm install --prefix .tools/allure --no-audit --no-fund --silent "allure@$ALLURE_VERSION" \
      || echo "setup: npm could not install allure; the Allure HTML report will be skipped"
  fi
else
  echo "setup: npm not found; the Allure HTML report will be skipped (the evidence report does not need it)"
fi
echo "setup: done ($(.venv/bin/python --version), drill at .venv/bin/drill)"
