#!/usr/bin/env bash
# Installs what a fresh machine lacks, idempotently: pnpm (pinned), Node's headers for native addons,
# SoftHSM2 and the PostgreSQL server (as root, when missing) and the workspace dependencies from the lockfile. Safe to run again at any time.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.9
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  npm install -g "pnpm@$PNPM_VERSION" >&2
fi

# Native addons build against Node's own headers (prebuilt downloads are unreachable here).
if ! grep -q '^nodedir=' "$HOME/.npmrc" 2>/dev/null; then
  echo "nodedir=/usr" >> "$HOME/.npmrc"
fi

# SoftHSM2: the PKCS#11 token behind the hsm/ tests and the dev cluster. Installed only when missing,
# and only as root (elsewhere, install the Debian package softhsm2 yourself).
# PostgreSQL server: the OTC tests start their own server from its binaries (the service itself defaults
# to the embedded PGlite and needs nothing installed).
MISSING=()
command -v softhsm2-util >/dev/null 2>&1 || MISSING+=(softhsm2)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || MISSING+=(postgresql)
if [ "${#MISSING[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${MISSING[@]}" >&2
  else
    echo "bootstrap: missing ${MISSING[*]}; install these Debian packages (needs root)" >&2
  fi
fi

pnpm install --frozen-lockfile >&2
