#!/usr/bin/env bash
# Starts Azurite (Blob + Table, in memory) on free loopback ports for the test suite.
# Source it: `source tests/tools/azurite.sh && azurite_start`; it exports
# AZURITE_BLOB_ENDPOINT / AZURITE_TABLE_ENDPOINT (http://127.0.0.1:PORT/devstoreaccount1)
# and AZURITE_PID; `azurite_stop` ends it.
azurite_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

azurite_start() {
  local root; root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  bash "$root/tests/tools/setup.sh"
  local blob table queue log
  blob=$(azurite_free_port); table=$(azurite_free_port); queue=$(azurite_free_port)
  log="${AZURITE_LOG:-$root/target/azurite.log}"
  mkdir -p "$(dirname "$log")"
  "$root/.tools/node_modules/.bin/azurite" --disableTelemetry --inMemoryPersistence --skipApiVersionCheck --loose \
    --blobHost 127.0.0.1 --blobPort "$blob" --tableHost 127.0.0.1 --tablePort "$table" \
    --queueHost 127.0.0.1 --queuePort "$queue" >"$log" 2>&1 &
  AZURITE_PID=$!
  export AZURITE_PID
  export AZURITE_BLOB_ENDPOINT="http://127.0.0.1:$blob/devstoreaccount1"
  export AZURITE_TABLE_ENDPOINT="http://127.0.0.1:$table/devstoreaccount1"
  # Ready when both ports accept connections; bounded so a broken install fails the run.
  local i
  for i in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$blob") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$table") 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$AZURITE_PID" 2>/dev/null; then
      echo "azurite exited during start; log:" >&2; cat "$log" >&2; return 1
    fi
    sleep 0.1
  done
  echo "azurite did not listen within 30 s; log:" >&2; cat "$log" >&2
  return 1
}

# Safe under `set -e` (a process stopped by SIGTERM makes `wait` fail).
azurite_stop() {
  if [ -n "${AZURITE_PID:-}" ]; then
    { kill "$AZURITE_PID" 2>/dev/null && wait "$AZURITE_PID" 2>/dev/null; } || true
  fi
  return 0
}
