// Conformance scenarios for Microsoft's JavaScript Event Hubs SDK (@azure/event-hubs) against the
// emulator. Run by tests/conformance.rs with the packages tests/tools/setup.sh installs into
// .tools/node_modules (NODE_PATH). Each scenario prints `RESULT <name> PASS` or
// `RESULT <name> FAIL <why>`; the Rust test asserts the lines.
//
// Environment: EMULATOR_ADDR (host:port), HUB (4 partitions, empty, consumer group "second"),
// KEY_PARTITION (the partition the emulator hashes KEY to), AZURITE_BLOB_ENDPOINT for the
// processor scenarios. argv[2] is "core" or "processor".
"use strict";

const { EventHubProducerClient, EventHubConsumerClient, earliestEventPosition, latestEventPosition } =
  require("@azure/event-hubs");

const ADDR = process.env.EMULATOR_ADDR;
const HUB = process.env.HUB;
const KEY = "conformance-key";
const SCENARIO_TIMEOUT_MS = 60_000;

const connStr = () =>
  `Endpoint=sb://${ADDR};SharedAccessKeyName=RootManageSharedAccessKey;` +
  `SharedAccessKey=conformance-key-value;UseDevelopmentEmulator=true;EntityPath=${HUB}`;
const retryOptions = { maxRetries: 2, retryDelayInMs: 200 };
const producer = () => new EventHubProducerClient(connStr(), { retryOptions });
const consumer = (group = "$Default", store) =>
  store
    ? new EventHubConsumerClient(group, connStr(), store, {
        retryOptions,
        loadBalancingOptions: { strategy: "balanced", updateIntervalInMs: 1000, partitionOwnershipExpirationIntervalInMs: 4000 },
      })
    : new EventHubConsumerClient(group, connStr(), { retryOptions });

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function waitUntil(predicate, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function withProducer(f) {
  const client = producer();
  try {
    return await f(client);
  } finally {
    await client.close();
  }
}

async function send(bodies, routing = {}) {
  await withProducer(async (client) => {
    const batch = await client.createBatch(routing);
    for (const body of bodies) check(batch.tryAdd({ body }), "event did not fit a fresh batch");
    await client.sendBatch(batch);
  });
}

const lastSequence = (partition) =>
  withProducer(async (c) => (await c.getPartitionProperties(partition)).lastEnqueuedSequenceNumber);

/** A consumer client reading one partition in the background. */
class Reader {
  constructor(partition, startPosition, { group = "$Default", ownerLevel } = {}) {
    this.client = consumer(group);
    this.events = [];
    this.errors = [];
    this.subscription = this.client.subscribe(
      partition,
      {
        processEvents: async (events) => {
          this.events.push(...events);
        },
        processError: async (error) => {
          this.errors.push(error);
        },
      },
      { startPosition, ownerLevel, maxWaitTimeInSeconds: 1 },
    );
  }
  async waitFor(count) {
    await waitUntil(
      async () => this.events.length >= count,
      `${count} events (have ${this.events.length}, errors ${this.errors.map(String)})`,
    );
    return this.events;
  }
  async close() {
    await this.subscription.close();
    await this.client.close();
  }
}

async function read(partition, count, startPosition, options) {
  const reader = new Reader(partition, startPosition, options);
  try {
    return [...(await reader.waitFor(count))];
  } finally {
    await reader.close();
  }
}

// --- scenarios --------------------------------------------------------------------------------

async function hubProperties() {
  const props = await withProducer((c) => c.getEventHubProperties());
  check(props.name === HUB, `name ${props.name}`);
  check(JSON.stringify(props.partitionIds) === JSON.stringify(["0", "1", "2", "3"]), `ids ${props.partitionIds}`);
}

async function partitionProperties() {
  let props = await withProducer((c) => c.getPartitionProperties("3"));
  check(props.partitionId === "3", `id ${props.partitionId}`);
  check(props.isEmpty === true && props.lastEnqueuedSequenceNumber === -1, `empty partition: ${JSON.stringify(props)}`);
  await send(["p3"], { partitionId: "3" });
  props = await withProducer((c) => c.getPartitionProperties("3"));
  check(props.isEmpty === false && props.lastEnqueuedSequenceNumber === 0, `after a send: ${JSON.stringify(props)}`);
}

async function sendPartitionKey() {
  const target = process.env.KEY_PARTITION;
  const before = await lastSequence(target);
  await send(["k1", "k2", "k3"], { partitionKey: KEY });
  const after = await lastSequence(target);
  check(after - before === 3, `partition ${target} grew by ${after - before}, expected 3`);
  const events = await read(target, 3, { sequenceNumber: before });
  check(events.slice(0, 3).every((e) => e.partitionKey === KEY), `keys ${events.map((e) => e.partitionKey)}`);
}

async function sendPartitionId() {
  const before = await lastSequence("2");
  await send(["id1", "id2"], { partitionId: "2" });
  check((await lastSequence("2")) - before === 2, "partition 2 did not grow by 2");
}

// The JavaScript SDK refuses a partition key together with a partition id itself (the Python
// SDK sends both and the id wins; see python_sdk.py).
async function partitionKeyWithId() {
  await withProducer(async (client) => {
    let refused;
    try {
      const batch = await client.createBatch({ partitionId: "0", partitionKey: KEY });
      batch.tryAdd({ body: "both" });
      await client.sendBatch(batch);
    } catch (error) {
      refused = error;
    }
    check(refused, "the SDK accepted a partition key together with a partition id");
    console.log(`INFO partition_key_with_id refused: ${refused.message}`);
  });
}

async function sendRoundRobin() {
  const before = {};
  for (const p of "0123") before[p] = await lastSequence(p);
  for (let i = 0; i < 8; i++) await send([`rr${i}`]);
  const grown = [];
  for (const p of "0123") if ((await lastSequence(p)) > before[p]) grown.push(p);
  check(grown.length >= 2, `8 unrouted sends all landed in ${grown}`);
}

async function batchSizeLimit() {
  await withProducer(async (client) => {
    const probe = await client.createBatch({ partitionId: "1" });
    const limit = probe.maxSizeInBytes;
    check(probe.tryAdd({ body: Buffer.alloc(0) }), "empty event did not fit");
    let body = limit - probe.sizeInBytes;
    for (let i = 0; i < 16; i++) {
      const trial = await client.createBatch({ partitionId: "1" });
      const fits = trial.tryAdd({ body: Buffer.alloc(body, 0x78) });
      if (fits && trial.sizeInBytes === limit) break;
      // A refused add leaves the batch empty: shrink by one; otherwise close the gap.
      body += fits ? limit - trial.sizeInBytes : -1;
    }
    const atLimit = await client.createBatch({ partitionId: "1" });
    check(atLimit.tryAdd({ body: Buffer.alloc(body, 0x78) }), `an event of ${body} bytes did not fit`);
    check(atLimit.sizeInBytes === limit, `could not fill a batch to ${limit} bytes (${atLimit.sizeInBytes})`);
    const over = await client.createBatch({ partitionId: "1" });
    check(!over.tryAdd({ body: Buffer.alloc(body + 1, 0x78) }), "the SDK accepted an event one byte over the limit");
    const before = (await client.getPartitionProperties("1")).lastEnqueuedSequenceNumber;
    await client.sendBatch(atLimit);
    const after = (await client.getPartitionProperties("1")).lastEnqueuedSequenceNumber;
    check(after === before + 1, "the batch at the limit was not stored");
    console.log(`INFO batch_size_limit limit=${limit} body=${body}`);
  });
}

async function receivePositions() {
  const base = (await lastSequence("0")) + 1;
  await send(["s0", "s1", "s2"], { partitionId: "0" });
  const first = await read("0", base + 3, earliestEventPosition);
  const stamp = first[base + 2].enqueuedTimeUtc.getTime();
  await waitUntil(async () => Date.now() > stamp + 5, "the clock to pass the first batch");
  await send(["s3", "s4", "s5"], { partitionId: "0" });
  const events = await read("0", base + 6, earliestEventPosition);
  const ours = events.slice(base, base + 6);
  check(ours.map((e) => e.body).join() === "s0,s1,s2,s3,s4,s5", "earliest: wrong bodies");
  check(events.slice(0, base + 6).every((e, i) => e.sequenceNumber === i), "earliest: wrong sequence numbers");
  const cases = [
    ["offset_exclusive", { offset: ours[2].offset }, base + 3],
    ["offset_inclusive", { offset: ours[2].offset, isInclusive: true }, base + 2],
    ["sequence_inclusive", { sequenceNumber: base + 4, isInclusive: true }, base + 4],
    ["sequence_exclusive", { sequenceNumber: base + 4 }, base + 5],
    ["enqueued_time", { enqueuedOn: ours[2].enqueuedTimeUtc }, base + 3],
  ];
  for (const [name, position, expected] of cases) {
    try {
      const got = await read("0", 1, position);
      report(`receive_${name}`, got[0].sequenceNumber === expected ? null : `first event ${got[0].sequenceNumber}`);
    } catch (error) {
      report(`receive_${name}`, String(error));
    }
  }
  const reader = new Reader("0", latestEventPosition);
  try {
    await waitUntil(async () => {
      if (reader.events.length === 0) await send(["late"], { partitionId: "0" });
      return reader.events.length > 0;
    }, "an event sent after a latest receiver attached");
    check(reader.events.every((e) => e.sequenceNumber >= base + 6), "latest delivered an older event");
  } finally {
    await reader.close();
  }
}

async function consumerGroups() {
  const before = await lastSequence("1");
  await send(["g1", "g2"], { partitionId: "1" });
  for (const group of ["$Default", "second"]) {
    const events = await read("1", 2, { sequenceNumber: before }, { group });
    check(events.slice(0, 2).map((e) => e.body).join() === "g1,g2", `group ${group}: ${events.map((e) => e.body)}`);
  }
}

async function ownerLevelSteal() {
  await send(["o1"], { partitionId: "3" });
  const low = new Reader("3", earliestEventPosition, { ownerLevel: 1 });
  let high;
  try {
    await low.waitFor(1);
    high = new Reader("3", earliestEventPosition, { ownerLevel: 2 });
    await high.waitFor(1);
    await waitUntil(async () => low.errors.length > 0, "the lower owner level receiver to fail");
    const error = low.errors[0];
    console.log(`INFO owner_level_steal loser error: ${error.code} ${error.message}`);
    check(error.code === "ReceiverDisconnectedError", `loser saw ${error.code}: ${error.message}`);
  } finally {
    await low.close();
    if (high) await high.close();
  }
}

const CORE = [
  ["hub_properties", hubProperties],
  ["partition_properties", partitionProperties],
  ["send_partition_key", sendPartitionKey],
  ["send_partition_id", sendPartitionId],
  ["partition_key_with_id", partitionKeyWithId],
  ["send_round_robin", sendRoundRobin],
  ["batch_size_limit", batchSizeLimit],
  ["receive_earliest_latest", receivePositions],
  ["consumer_groups", consumerGroups],
  ["owner_level_steal", ownerLevelSteal],
];

// --- processors ------------------------------------------------------------------------------

async function processors() {
  const { BlobCheckpointStore } = require("@azure/eventhubs-checkpointstore-blob");
  const { ContainerClient } = require("@azure/storage-blob");
  const accountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
  const blobConn =
    `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${accountKey};` +
    `BlobEndpoint=${process.env.AZURITE_BLOB_ENDPOINT};`;
  const container = new ContainerClient(blobConn, `js-${Date.now()}`);
  await container.create();
  const store = new BlobCheckpointStore(container);
  const received = new Map();
  const make = (name) => {
    const owned = new Set();
    const client = consumer("$Default", store);
    const subscription = client.subscribe(
      {
        processInitialize: async (ctx) => owned.add(ctx.partitionId),
        processClose: async (_reason, ctx) => owned.delete(ctx.partitionId),
        processEvents: async (events, ctx) => {
          for (const e of events) if (!received.has(e.body)) received.set(e.body, name);
          if (events.length) await ctx.updateCheckpoint(events[events.length - 1]);
        },
        processError: async () => {},
      },
      { startPosition: earliestEventPosition, maxWaitTimeInSeconds: 1 },
    );
    return { client, subscription, owned };
  };
  const a = make("a");
  const b = make("b");
  try {
    await waitUntil(
      async () => a.owned.size === 2 && b.owned.size === 2 && [...a.owned].every((p) => !b.owned.has(p)),
      "two processors to own 2 partitions each",
      45_000,
    );
    console.log(`INFO processor owners a=${[...a.owned].sort()} b=${[...b.owned].sort()}`);
    const before = [];
    for (const p of "0123") {
      const bodies = [0, 1].map((i) => `before-${p}-${i}`);
      before.push(...bodies);
      await send(bodies, { partitionId: p });
    }
    await waitUntil(async () => before.every((x) => received.has(x)), "both processors to receive every event");
    check(new Set(before.map((x) => received.get(x))).size === 2, "both processors should have received events");
    report("processor_balance", null);
    await a.subscription.close();
    await a.client.close();
    const after = [...("0123")].map((p) => `after-${p}`);
    for (const p of "0123") await send([`after-${p}`], { partitionId: p });
    await waitUntil(
      async () => b.owned.size === 4 && after.every((x) => received.has(x)),
      "the remaining processor to own all 4 partitions",
      45_000,
    );
    check(after.every((x) => received.get(x) === "b"), "events after the stop went to the stopped processor");
    report("processor_takeover", null);
  } finally {
    for (const p of [a, b]) {
      await p.subscription.close();
      await p.client.close();
    }
  }
}

// --- runner ----------------------------------------------------------------------------------

function report(name, failure) {
  console.log(failure == null ? `RESULT ${name} PASS` : `RESULT ${name} FAIL ${String(failure).replace(/\n/g, " ")}`);
}

async function run(name, scenario) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`scenario timed out after ${SCENARIO_TIMEOUT_MS} ms`)), SCENARIO_TIMEOUT_MS);
  });
  try {
    await Promise.race([scenario(), timeout]);
    if (name !== "processors") report(name, null);
  } catch (error) {
    console.error(error);
    report(name, `${error.name}: ${error.message}`);
  } finally {
    clearTimeout(timer);
  }
}

async function main() {
  const scenarios = process.argv[2] === "processor" ? [["processors", processors]] : CORE;
  for (const [name, scenario] of scenarios) await run(name, scenario);
  // Lingering sockets of closed clients must not keep the process alive.
  process.exit(0);
}

main();
