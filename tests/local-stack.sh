#!/usr/bin/env bash
# A local Azure-compatible stack for trying the full Azure path without an account, and for the
# end-to-end tests: Azurite (Blob + Table) and the project's Event Hubs emulator on loopback,
# with the input hub (consumer group flowlog) and the output hub (consumer group adx).
#
#   source tests/local-stack.sh && stack_start      # prints the settings, writes $STACK_DIR
#   flowlog run --config "$STACK_DIR/flowlog.toml" &  # the daemon in Azure mode
#   flowlog simulate --azure --config "$STACK_DIR/flowlog.toml" --minutes 5 --duplicate-percent 10
#   curl -s "$FLOWLOG_METRICS"                      # the daemon's metrics
#   kill %1; stack_stop                             # the daemon first: it needs the stack
#
# STACK_INPUT_PARTITIONS sets the input hub's partition count (default 4); STACK_MAX_MESSAGE_SIZE
# the hubs' max message size in bytes (default 1048576, as Standard; 20971520 as Dedicated).
# The emulator keeps its events in $STACK_DIR/eventhubs, so a restarted stack still holds them.
stack_root() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

stack_start() {
  local root; root=$(stack_root)
  # shellcheck source=tests/tools/azurite.sh
  source "$root/tests/tools/azurite.sh"
  azurite_start || return 1
  export STACK_DIR="${STACK_DIR:-$root/target/local-stack}"
  mkdir -p "$STACK_DIR"
  echo "building flowlog and the Event Hubs emulator (the first time takes a few minutes)..." >&2
  cargo build -q --manifest-path "$root/Cargo.toml" -p eventhubs-emulator -p flowlog || return 1
  local port; port=$(azurite_free_port)
  local control; control=$(azurite_free_port)
  local ops; ops=$(azurite_free_port)
  # A fresh stack unless STACK_KEEP=1: events of an earlier stack name an Azurite that is gone.
  [ "${STACK_KEEP:-0}" = 1 ] || rm -rf "$STACK_DIR/eventhubs"
  "$root/target/debug/eventhubs-emulator" --listen "127.0.0.1:$port" --control "127.0.0.1:$control" \
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
  # The daemon's ops server: one daemon per config (a second one, e.g. a replica, needs --listen).
  export FLOWLOG_METRICS="http://127.0.0.1:$ops/metrics"
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
namespace = "flowlog-local.servicebus.windows.net"
hub = "flowlog-rows"
endpoint = "$EMULATOR_ENDPOINT"

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
  echo "local stack up: config $STACK_DIR/flowlog.toml, emulator $EMULATOR_ENDPOINT (control $EMULATOR_CONTROL), blob $AZURITE_BLOB_ENDPOINT, table $AZURITE_TABLE_ENDPOINT, daemon metrics $FLOWLOG_METRICS" >&2
}

stack_stop() {
  [ -n "${EMULATOR_PID:-}" ] && kill "$EMULATOR_PID" 2>/dev/null && wait "$EMULATOR_PID" 2>/dev/null
  azurite_stop
  return 0
}
