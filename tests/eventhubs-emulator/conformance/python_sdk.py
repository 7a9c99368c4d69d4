"""Conformance scenarios for Microsoft's Python Event Hubs SDK (azure-eventhub) against the emulator.

Run by tests/conformance.rs with the venv that tests/tools/setup.sh installs. Each scenario prints
one line `RESULT <name> PASS` or `RESULT <name> FAIL <why>`; the Rust test asserts the lines.

Environment: EMULATOR_ADDR (host:port), HUB (4 partitions, empty, consumer group "second"),
KEY_PARTITION (the partition the emulator hashes KEY to), and for the processor scenarios
AZURITE_BLOB_ENDPOINT. argv[1] is "core" or "processor".
"""

import asyncio
import datetime
import os
import sys
import traceback
import uuid

from azure.eventhub import EventData
from azure.eventhub.aio import EventHubConsumerClient, EventHubProducerClient

ADDR = os.environ["EMULATOR_ADDR"]
HUB = os.environ["HUB"]
KEY = "conformance-key"
SCENARIO_TIMEOUT = 60


def conn_str(hub=HUB):
    return (
        f"Endpoint=sb://{ADDR};SharedAccessKeyName=RootManageSharedAccessKey;"
        f"SharedAccessKey=conformance-key-value;UseDevelopmentEmulator=true;EntityPath={hub}"
    )


def producer():
    return EventHubProducerClient.from_connection_string(conn_str(), retry_total=2)


def consumer(group="$Default"):
    return EventHubConsumerClient.from_connection_string(conn_str(), consumer_group=group, retry_total=2)


async def send(bodies, **routing):
    async with producer() as client:
        batch = await client.create_batch(**routing)
        for body in bodies:
            batch.add(EventData(body))
        await client.send_batch(batch)


async def last_sequence(partition):
    async with producer() as client:
        props = await client.get_partition_properties(partition)
        return props["last_enqueued_sequence_number"]


async def wait_until(predicate, what, timeout=20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


class Reader:
    """A consumer client receiving one partition in the background."""

    def __init__(self, partition, group="$Default", **receive_args):
        self.client = consumer(group)
        self.events = []
        self.errors = []
        self.task = asyncio.create_task(
            self.client.receive(self.on_event, partition_id=partition, on_error=self.on_error, **receive_args)
        )

    async def on_event(self, _ctx, event):
        if event is not None:
            self.events.append(event)

    async def on_error(self, _ctx, error):
        self.errors.append(error)

    async def wait_for(self, count, timeout=20.0):
        async def enough():
            if self.task.done() and self.task.exception():
                raise self.task.exception()
            return len(self.events) >= count

        await wait_until(enough, f"{count} events (have {len(self.events)}, errors {self.errors!r})", timeout)
        return self.events

    async def close(self):
        await self.client.close()
        # `receive` does not always return once its client is closed: end it.
        self.task.cancel()
        try:
            await self.task
        except BaseException:  # noqa: BLE001 - closing; the scenario already has its result
            pass


def check(condition, message):
    if not condition:
        raise AssertionError(message)


async def read(partition, count, **receive_args):
    reader = Reader(partition, **receive_args)
    try:
        return list(await reader.wait_for(count))
    finally:
        await reader.close()


# --- scenarios -------------------------------------------------------------------------------


async def hub_properties():
    async with producer() as client:
        props = await client.get_eventhub_properties()
    check(props["eventhub_name"] == HUB, f"name {props['eventhub_name']!r}")
    check(list(props["partition_ids"]) == ["0", "1", "2", "3"], f"partition ids {props['partition_ids']!r}")


async def partition_properties():
    async with producer() as client:
        props = await client.get_partition_properties("3")
    check(props["id"] == "3", f"id {props['id']!r}")
    check(props["is_empty"] is True, f"is_empty {props['is_empty']!r}")
    check(props["last_enqueued_sequence_number"] == -1, f"last seq {props['last_enqueued_sequence_number']!r}")
    await send([b"p3"], partition_id="3")
    async with producer() as client:
        props = await client.get_partition_properties("3")
    check(props["is_empty"] is False and props["last_enqueued_sequence_number"] == 0, f"after one send: {props!r}")


async def send_partition_key():
    target = os.environ["KEY_PARTITION"]
    before = await last_sequence(target)
    await send([b"k1", b"k2", b"k3"], partition_key=KEY)
    after = await last_sequence(target)
    check(after - before == 3, f"partition {target} grew by {after - before}, expected 3")
    events = await read(target, 3, starting_position=before, starting_position_inclusive=False)
    # The Python SDK hands the key back as bytes.
    check([e.partition_key for e in events[:3]] == [KEY.encode()] * 3, f"keys {[e.partition_key for e in events]!r}")


async def send_partition_id():
    before = await last_sequence("2")
    await send([b"id1", b"id2"], partition_id="2")
    check(await last_sequence("2") - before == 2, "partition 2 did not grow by 2")


async def partition_key_with_id():
    # The Python SDK documents that "the partition_id will take precedence": it sends to the
    # partition's link with the key annotated, and the service stores the event there.
    before = await last_sequence("0")
    await send([b"both"], partition_id="0", partition_key=KEY)
    check(await last_sequence("0") == before + 1, "the event did not land in the partition id's partition")
    events = await read("0", 1, starting_position=before)
    check(events[0].partition_key == KEY.encode(), f"key {events[0].partition_key!r}")


async def send_round_robin():
    before = {p: await last_sequence(p) for p in "0123"}
    for i in range(8):
        await send([f"rr{i}".encode()])
    grown = {p for p in "0123" if await last_sequence(p) > before[p]}
    check(len(grown) >= 2, f"8 unrouted sends all landed in {grown}")


async def batch_size_limit():
    async with producer() as client:
        probe = await client.create_batch(partition_id="1")
        limit = probe.max_size_in_bytes

        async def fits(body_len):
            batch = await client.create_batch(partition_id="1")
            try:
                batch.add(EventData(b"x" * body_len))
            except ValueError:
                return None
            return batch

        # The largest body that still fits (the SDK raises ValueError past the limit).
        low, high = 0, limit
        while low < high:
            middle = (low + high + 1) // 2
            if await fits(middle):
                low = middle
            else:
                high = middle - 1
        at_limit = await fits(low)
        check(at_limit.size_in_bytes == limit, f"the fullest batch holds {at_limit.size_in_bytes} of {limit} bytes")
        try:
            over = await client.create_batch(partition_id="1")
            over.add(EventData(b"x" * (low + 1)))
            raise AssertionError("the SDK accepted an event one byte over the batch limit")
        except ValueError as error:
            print(f"INFO batch_size_limit over-limit error: {error}", flush=True)
        before = await client.get_partition_properties("1")
        await client.send_batch(at_limit)
        after = await client.get_partition_properties("1")
    check(
        after["last_enqueued_sequence_number"] == before["last_enqueued_sequence_number"] + 1,
        "the batch at the limit was not stored",
    )
    print(f"INFO batch_size_limit limit={limit} body={low}", flush=True)


async def seed_positions():
    """Partition 0: two batches of 3 with distinct enqueued times after whatever it holds;
    returns the base sequence number and every event from the start."""
    base = await last_sequence("0") + 1
    await send([b"s0", b"s1", b"s2"], partition_id="0")
    first = await read("0", base + 3, starting_position="-1")
    # The next batch must carry a later enqueued time: wait (bounded) for the clock to move on.
    stamp = first[base + 2].enqueued_time

    async def clock_moved_on():
        return datetime.datetime.now(datetime.timezone.utc) > stamp + datetime.timedelta(milliseconds=5)

    await wait_until(clock_moved_on, "the clock to pass the first batch")
    await send([b"s3", b"s4", b"s5"], partition_id="0")
    return base, await read("0", base + 6, starting_position="-1")


async def receive_positions():
    base, events = await seed_positions()
    ours = events[base : base + 6]
    check([e.body_as_str() for e in ours] == [f"s{i}" for i in range(6)], "earliest: wrong bodies")
    check([e.sequence_number for e in events[: base + 6]] == list(range(base + 6)), "earliest: wrong sequence numbers")
    cases = {
        "offset_exclusive": ({"starting_position": ours[2].offset}, base + 3),
        "offset_inclusive": ({"starting_position": ours[2].offset, "starting_position_inclusive": True}, base + 2),
        "sequence_inclusive": ({"starting_position": base + 4, "starting_position_inclusive": True}, base + 4),
        "sequence_exclusive": ({"starting_position": base + 4}, base + 5),
        "enqueued_time": ({"starting_position": ours[2].enqueued_time}, base + 3),
    }
    for name, (position, expected) in cases.items():
        try:
            got = await read("0", 1, **position)
            report(f"receive_{name}", None if got[0].sequence_number == expected else f"first event {got[0].sequence_number}")
        except Exception as error:  # noqa: BLE001 - one result line per case
            report(f"receive_{name}", f"{type(error).__name__}: {error}")
    # Latest: nothing stored before the receiver attached may arrive.
    reader = Reader("0", starting_position="@latest")
    try:
        async def got_one():
            if not reader.events:
                await send([b"late"], partition_id="0")
            return bool(reader.events)

        await wait_until(got_one, "an event sent after a latest receiver attached")
        check(all(e.sequence_number >= base + 6 for e in reader.events), "latest delivered an older event")
    finally:
        await reader.close()


async def consumer_groups():
    before = await last_sequence("1")
    await send([b"g1", b"g2"], partition_id="1")
    for group in ("$Default", "second"):
        events = await read("1", 2, group=group, starting_position=before)
        check([e.body_as_str() for e in events[:2]] == ["g1", "g2"], f"group {group}: {[e.body_as_str() for e in events]}")


async def owner_level_steal():
    await send([b"o1"], partition_id="3")
    low = Reader("3", starting_position="-1", owner_level=1)
    high = None
    try:
        await low.wait_for(1)
        high = Reader("3", starting_position="-1", owner_level=2)
        await high.wait_for(1)

        async def low_failed():
            return bool(low.errors) or (low.task.done() and low.task.exception() is not None)

        await wait_until(low_failed, "the lower owner level receiver to fail")
        error = low.errors[0] if low.errors else low.task.exception()
        text = f"{type(error).__name__}: {error}"
        print(f"INFO owner_level_steal loser error: {text}", flush=True)
        check("stolen" in text.lower() or "higher" in text.lower(), f"loser saw {text}")
    finally:
        await low.close()
        if high:
            await high.close()


CORE = [
    ("hub_properties", hub_properties),
    ("partition_properties", partition_properties),
    ("send_partition_key", send_partition_key),
    ("send_partition_id", send_partition_id),
    ("partition_key_with_id", partition_key_with_id),
    ("send_round_robin", send_round_robin),
    ("batch_size_limit", batch_size_limit),
    ("receive_earliest_latest", receive_positions),
    ("consumer_groups", consumer_groups),
    ("owner_level_steal", owner_level_steal),
]


# --- processors --------------------------------------------------------------------------------


async def processors():
    from azure.eventhub.extensions.checkpointstoreblobaio import BlobCheckpointStore

    endpoint = os.environ["AZURITE_BLOB_ENDPOINT"]
    account_key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    blob_conn = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={account_key};BlobEndpoint={endpoint};"
    )
    container = f"py-{uuid.uuid4().hex[:12]}"
    store = BlobCheckpointStore.from_connection_string(blob_conn, container)
    await store._container_client.create_container()  # noqa: SLF001 - the store expects an existing container
    received = {}

    def make(name):
        owned = set()

        async def on_event(ctx, event):
            if event is None:
                return
            received.setdefault(event.body_as_str(), name)
            await ctx.update_checkpoint(event)

        async def on_init(ctx):
            owned.add(ctx.partition_id)

        async def on_close(ctx, _reason):
            owned.discard(ctx.partition_id)

        client = EventHubConsumerClient.from_connection_string(
            conn_str(), consumer_group="$Default", checkpoint_store=store, load_balancing_interval=1,
            partition_ownership_expiration_interval=4, retry_total=2,
        )
        task = asyncio.create_task(
            client.receive(on_event, on_partition_initialize=on_init, on_partition_close=on_close, starting_position="-1")
        )
        return client, task, owned

    a_client, a_task, a_owned = make("a")
    b_client, b_task, b_owned = make("b")
    try:
        async def balanced():
            return len(a_owned) == 2 and len(b_owned) == 2 and not (a_owned & b_owned)

        await wait_until(balanced, "two processors to own 2 partitions each", timeout=45)
        print(f"INFO processor owners a={sorted(a_owned)} b={sorted(b_owned)}", flush=True)
        bodies = [f"before-{p}-{i}" for p in "0123" for i in range(2)]
        for p in "0123":
            await send([f"before-{p}-{i}".encode() for i in range(2)], partition_id=p)

        async def all_before():
            return all(b in received for b in bodies)

        await wait_until(all_before, "both processors to receive every event")
        check({received[b] for b in bodies} == {"a", "b"}, "both processors should have received events")
        report("processor_balance", None)
        await a_client.close()
        a_task.cancel()
        after = [f"after-{p}" for p in "0123"]
        for p in "0123":
            await send([f"after-{p}".encode()], partition_id=p)

        async def took_over():
            return len(b_owned) == 4 and all(b in received for b in after)

        await wait_until(took_over, "the remaining processor to own all 4 partitions", timeout=45)
        check(all(received[b] == "b" for b in after), "events after the stop went to the stopped processor")
        report("processor_takeover", None)
    finally:
        await a_client.close()
        await b_client.close()
        for task in (a_task, b_task):
            task.cancel()
            try:
                await task
            except BaseException:  # noqa: BLE001 - closing
                pass


# --- runner ------------------------------------------------------------------------------------


def report(name, failure):
    if failure is None:
        print(f"RESULT {name} PASS", flush=True)
    else:
        print(f"RESULT {name} FAIL {failure}".replace("\n", " "), flush=True)


async def run(name, scenario):
    try:
        await asyncio.wait_for(scenario(), SCENARIO_TIMEOUT)
        if name != "processors":
            report(name, None)
    except Exception as error:  # noqa: BLE001 - every failure becomes a result line
        traceback.print_exc()
        report(name, f"{type(error).__name__}: {error}")


async def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "core"
    scenarios = CORE if which == "core" else [("processors", processors)]
    for name, scenario in scenarios:
        await run(name, scenario)


if __name__ == "__main__":
    asyncio.run(main())
