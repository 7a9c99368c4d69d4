#!/usr/bin/env bash
# Installs the Node test tools (Azurite, Kusto language service) into .tools/ unless already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tools="$root/.tools"
mkdir -p "$tools"
if ! cmp -s "$root/tests/tools/package.json" "$tools/package.json" || [ ! -x "$tools/node_modules/.bin/azurite" ]; then
  cp "$root/tests/tools/package.json" "$tools/package.json"
  [ -f "$root/tests/tools/package-lock.json" ] && cp "$root/tests/tools/package-lock.json" "$tools/package-lock.json"
  (cd "$tools" && npm install --no-audit --no-fund --loglevel=error >&2)
  [ -f "$root/tests/tools/package-lock.json" ] || cp "$tools/package-lock.json" "$root/tests/tools/package-lock.json"
fi
