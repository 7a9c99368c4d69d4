#!/usr/bin/env bash
# A local Azure-compatible stack for trying the full Azure path without an account, and for the
# end-to-end tests: Azurite (Blob + Table) and the project's Event Hubs emulator on loopback,
# with the input hub (consumer group flowlog) and the output hub (consumer group adx).
#
#   source tests/local-stack.sh && stack_start      # prints the settings, writes $STACK_DIR
#   flowlog simulate --azure --config "$STACK_DIR/flowlog.toml" --minutes 5 --duplicate-percent 10
#   stack_daemon                                    # `flowlog run` in Azure mode, in the background
#   stack_wait_rows 100                             # until the daemon has sent 100 rows
#   curl -s "$STACK_METRICS_URL"                    # the daemon's metrics
#   stack_stop                                      # the daemon, then the emulator, then Azurite
#
# Nothing exported here is named FLOWLOG_*, except the secrets the daemon reads as settings:
# flowlog takes every FLOWLOG_* variable for a setting and refuses unknown ones.
# STACK_INPUT_PARTITIONS sets the input hub's partition count (default 4); STACK_MAX_MESSAGE_SIZE
# the hubs' max message size in bytes (default 1048576, as Standard; 20971520 as Dedicated).
# STACK_FLOWLOG and STACK_EMULATOR name binaries to use instead of building target/debug/flowlog
# and target/debug/eventhubs-emulator (the docs test passes its own).
# The emulator keeps its events in $STACK_DIR/eventhubs, so a restarted stack still holds them.
# STACK_OUTPUT=log_analytics sends rows to the emulator's fake Logs Ingestion API instead
# (output.kind = "log_analytics"; LOGS_INGESTION_ENDPOINT/control/rows lists what it stored).
stack_root() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

stack_start() {
  local root; root=$(stack_root)
  # shellcheck source=tests/tools/azurite.sh
  source "$root/tests/tools/azurite.sh"
  azurite_start || return 1
  export STACK_DIR="${STACK_DIR:-$root/target/local-stack}"
  mkdir -p "$STACK_DIR"
  local build=()
  [ -n "${STACK_EMULATOR:-}" ] || build+=(-p eventhubs-emulator)
  [ -n "${STACK_FLOWLOG:-}" ] || build+=(-p flowlog)
  if [ ${#build[@]} -gt 0 ]; then
    echo "building flowlog and the Event Hubs emulator (the first time takes a few minutes)..." >&2
    cargo build -q --manifest-path "$root/Cargo.toml" "${build[@]}" || return 1
  fi
  export STACK_FLOWLOG="${STACK_FLOWLOG:-$root/target/debug/flowlog}"
  export STACK_EMULATOR="${STACK_EMULATOR:-$root/target/debug/eventhubs-emulator}"
  local emulator="$STACK_EMULATOR"
  local port; port=$(azurite_free_port)
  local control; control=$(azurite_free_port)
  local ops; ops=$(azurite_free_port)
  # A fresh stack unless STACK_KEEP=1: events of an earlier stack name an Azurite that is gone.
  [ "${STACK_KEEP:-0}" = 1 ] || rm -rf "$STACK_DIR/eventhubs"
  "$emulator" --listen "127.0.0.1:$port" --control "127.0.0.1:$control" \
    --hub "flowlog-input:${STACK_INPUT_PARTITIONS:-4}" --hub flowlog-rows:4 \
    --consumer-group flowlog-input:flowlog --consumer-group flowlog-rows:adx \
    --max-message-size "${STACK_MAX_MESSAGE_SIZE:-1048576}" \
    --data-dir "$STACK_DIR/eventhubs" >"$STACK_DIR/emulator.log" 2>&1 &
  EMULATOR_PID=$!
  export EMULATOR_PID
  local i
  for i in $(seq 1 300); do
    grep -q "listening on" "$STACK_DIR/emulator.log" 2>/dev/null && break
    kill -0 "$EMULATOR_PID" 2>/dev/null || { cat "$STACK_DIR/emulator.log" >&2; return 1; }
    sleep 0.1
  done
  export EMULATOR_ENDPOINT="amqp://127.0.0.1:$port" EMULATOR_CONTROL="http://127.0.0.1:$control"
  # STACK_OUTPUT=log_analytics: rows go to the emulator's fake Logs Ingestion API instead of the
  # output hub (stored rows: curl -s "$LOGS_INGESTION_ENDPOINT/control/rows").
  local output_section="namespace = \"flowlog-local.servicebus.windows.net\"
hub = \"flowlog-rows\"
endpoint = \"$EMULATOR_ENDPOINT\""
  if [ "${STACK_OUTPUT:-eventhubs}" = log_analytics ]; then
    local la_port; la_port=$(azurite_free_port)
    "$emulator" logs-ingestion --listen "127.0.0.1:$la_port" >"$STACK_DIR/logs-ingestion.log" 2>&1 &
    LOGS_INGESTION_PID=$!
    export LOGS_INGESTION_PID LOGS_INGESTION_ENDPOINT="http://127.0.0.1:$la_port"
    for i in $(seq 1 300); do
      grep -q "logs ingestion on" "$STACK_DIR/logs-ingestion.log" 2>/dev/null && break
      kill -0 "$LOGS_INGESTION_PID" 2>/dev/null || { cat "$STACK_DIR/logs-ingestion.log" >&2; return 1; }
      sleep 0.1
    done
    output_section="kind = \"log_analytics\"

[log_analytics]
endpoint = \"$LOGS_INGESTION_ENDPOINT\"
dcr_immutable_id = \"dcr-00000000000000000000000000000001\"
stream = \"Custom-FlowlogRows\""
    # An unsigned token for the fake: it checks only the audience (aud).
    local b64url='base64 -w0 | tr "+/" "-_" | tr -d "="'
    FLOWLOG_LOG_ANALYTICS_TOKEN="$(printf '{"alg":"none","typ":"JWT"}' | eval "$b64url").$(printf '{"aud":"https://monitor.azure.com","sub":"flowlog"}' | eval "$b64url")."
    export FLOWLOG_LOG_ANALYTICS_TOKEN
  fi
  # The daemon's ops server: one daemon per config (a second one, e.g. a replica, needs --listen).
  export STACK_METRICS_URL="http://127.0.0.1:$ops/metrics"
  cat >"$STACK_DIR/flowlog.toml" <<TOML
# Written by tests/local-stack.sh: Azure mode against Azurite and the Event Hubs emulator.
[input]
namespace = "flowlog-local.servicebus.windows.net"
hub = "flowlog-input"
consumer_group = "flowlog"
endpoint = "$EMULATOR_ENDPOINT"
# Fast takeover for a local trial: rebalance every second, expire ownership after five.
update_interval_ms = 1000
partition_expiration_ms = 5000
strategy = "greedy"

[checkpoints]
account_url = "$AZURITE_BLOB_ENDPOINT"
container = "flowlog-checkpoints"

[offsets]
account_url = "$AZURITE_TABLE_ENDPOINT"
table = "flowlogoffsets"

[sources]
allowed = ["$AZURITE_BLOB_ENDPOINT/insights-logs-flowlogflowevent", "$AZURITE_BLOB_ENDPOINT/insights-logs-networksecuritygroupflowevent"]

[output]
$output_section

[dead_letter]
account_url = "$AZURITE_BLOB_ENDPOINT"
container = "flowlog-deadletter"

[server]
listen = "127.0.0.1:$ops"
TOML
  # Secrets travel in the environment, never in the file: Azurite's published development key,
  # and any token for the emulator (it accepts every token unless started with one required).
  local key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
  export FLOWLOG_CHECKPOINTS_ACCOUNT_KEY="$key" FLOWLOG_OFFSETS_ACCOUNT_KEY="$key" \
    FLOWLOG_SOURCES_ACCOUNT_KEY="$key" FLOWLOG_DEAD_LETTER_ACCOUNT_KEY="$key" \
    FLOWLOG_INPUT_TOKEN="emulator-token" FLOWLOG_OUTPUT_TOKEN="emulator-token"
  echo "local stack up: config $STACK_DIR/flowlog.toml, emulator $EMULATOR_ENDPOINT (control $EMULATOR_CONTROL), blob $AZURITE_BLOB_ENDPOINT, table $AZURITE_TABLE_ENDPOINT, daemon metrics $STACK_METRICS_URL" >&2
}

# Starts `flowlog run --config $STACK_DIR/flowlog.toml` in the background (log in
# $STACK_DIR/daemon.log, PID in STACK_DAEMON_PID) and returns once its /readyz answers.
stack_daemon() {
  [ -n "${STACK_DIR:-}" ] || { echo "stack_daemon: run stack_start first" >&2; return 1; }
  "$STACK_FLOWLOG" run --config "$STACK_DIR/flowlog.toml" 2>"$STACK_DIR/daemon.log" &
  STACK_DAEMON_PID=$!
  export STACK_DAEMON_PID
  local ready="${STACK_METRICS_URL%/metrics}/readyz" i
  for i in $(seq 1 600); do
    curl -sf "$ready" >/dev/null 2>&1 && {
      echo "daemon running (PID $STACK_DAEMON_PID, log $STACK_DIR/daemon.log)" >&2
      return 0
    }
    kill -0 "$STACK_DAEMON_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "stack_daemon: the daemon is not ready; its log:" >&2
  tail -20 "$STACK_DIR/daemon.log" >&2
  return 1
}

# Waits (at most STACK_WAIT_SECS, default 120) until the daemon's flowlog_rows_sent_total
# reaches ROWS, then prints it.
stack_wait_rows() {
  local want=$1 sent=0 i
  for i in $(seq 1 $((${STACK_WAIT_SECS:-120} * 5))); do
    sent=$(curl -s "$STACK_METRICS_URL" 2>/dev/null | awk '$1 == "flowlog_rows_sent_total" { print $2 }') || true
    if [ "${sent:-0}" -ge "$want" ]; then
      echo "the daemon has sent $sent rows" >&2
      return 0
    fi
    sleep 0.2
  done
  echo "stack_wait_rows: ${sent:-0} of $want rows sent; the daemon's log:" >&2
  tail -20 "$STACK_DIR/daemon.log" >&2
  return 1
}

# Stops PID with SIGTERM and waits until it has exited (SIGKILL after 40 s when it is not a
# child of this shell: the daemon's own shutdown deadline is 25 s). Safe under `set -e`.
stack_kill() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  wait "$pid" 2>/dev/null || true # returns once it has exited when it is this shell's child
  for i in $(seq 1 400); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "stack_kill: $pid did not stop within 40 s; killing it" >&2
  kill -9 "$pid" 2>/dev/null || true
}

# Stops the daemon first (it needs the stack), then the emulator, then Azurite: nothing the
# stack started is left running.
stack_stop() {
  [ -z "${STACK_DAEMON_PID:-}" ] || stack_kill "$STACK_DAEMON_PID"
  [ -z "${EMULATOR_PID:-}" ] || stack_kill "$EMULATOR_PID"
  [ -z "${LOGS_INGESTION_PID:-}" ] || stack_kill "$LOGS_INGESTION_PID"
  azurite_stop
  return 0
}
