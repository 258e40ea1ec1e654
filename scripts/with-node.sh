#!/usr/bin/env bash
# Runs a command under Node >= 22, whatever Node is first on PATH: `npm start` and `npm test`
# go through it, so the README's two commands work on a machine whose Node is older (Node 20
# crashes as soon as better-sqlite3 opens a database). ensure-node.sh brings Node 24 when needed;
# a native addon that `npm install` built for the older Node is then rebuilt once for this one.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=ensure-node.sh
source "$here/ensure-node.sh"
if ! (cd "$here/.." && node -e "new (require('better-sqlite3'))(':memory:').close()") >/dev/null 2>&1; then
  echo "fish-sre: rebuilding better-sqlite3 for Node $(node --version)" >&2
  (cd "$here/.." && npm rebuild better-sqlite3 --no-audit --no-fund --loglevel=error >&2)
fi
exec "$@"
