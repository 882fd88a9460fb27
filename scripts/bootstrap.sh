#!/usr/bin/env bash
# Installs what a fresh machine lacks, idempotently: pnpm (pinned), Node's headers for native addons,
# and the workspace dependencies from the lockfile. Safe to run again at any time.
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

pnpm install --frozen-lockfile >&2
