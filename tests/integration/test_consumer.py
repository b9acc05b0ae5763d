"""KinesisConsumer on kinesalite, leases on moto's DynamoDB."""
import asyncio
import hashlib
import uuid

import boto3
import pytest
from prometheus_client import CollectorRegistry

from connectors.aws import EndpointUnreachable, async_client
from connectors.dead_letter import DeadLetter, FileDeadLetters
from connectors.kinesis.aggregation import MAGIC, UserRecord, aggregate
from connectors.kinesis.checkpoints import Checkpoint, FileCheckpointStore, LeaseLostError, MemoryCheckpointStore
from connectors.kinesis.consumer import ConsumerConfig, ConsumerError, KinesisConsumer
from connectors.kinesis.leases import DynamoDBLeaseTable, LeaseTableConfig
from connectors.kinesis.shards import ShardInfo
from connectors.kinesis.streams import create_stream_and_wait
from connectors.testing import FakeClock, patched_environ

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
FAST = dict(min_call_interval_s=0.01, idle_interval_s=0.05, discovery_interval_s=0.2, backoff_base_s=0.01)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def make_stream(shards):
    name = unique("consumer")
    async with async_client("kinesis") as kinesis:
        await create_stream_and_wait(kinesis, name, shards)
    return name


def put(stream, keys=8, per_key=30, aggregate_every=0):
    """Write ``key-k:i`` for each key in order of i; with ``aggregate_every=n``, records i..i+2 for
    i % n == 0 travel as one KPL aggregate.  Returns (Kinesis records written, user records expected)."""
    entries, expected = [], []
    for i in range(per_key):
        for k in range(keys):
            key = f"key-{k}"
            if aggregate_every and i % aggregate_every in (1, 2):
                continue
            group = range(i, min(i + 3, per_key)) if aggregate_every and i % aggregate_every == 0 else [i]
            values = [f"{key}:{j}".encode() for j in group]
            expected.extend(v.decode() for v in values)
            body = aggregate([UserRecord(key, v) for v in values]) if len(values) > 1 else values[0]
            entries.append({"Data": body, "PartitionKey": key})
    kinesis = boto3.client("kinesis")
    for start in range(0, len(entries), 500):
        response = kinesis.put_records(StreamName=stream, Records=entries[start:start + 500])
        assert response["FailedRecordCount"] == 0
    return len(entries), expected


def assert_per_key_order(records):
    last = {}
    for record in records:
        key, index = record.data.decode().split(":")
        assert last.get(key, -1) < int(index), f"{key} out of order"
        last[key] = int(index)


async def collect(consumer, count, *, checkpoint=True, stop_after_batches=None):
    """Read batches until ``count`` records arrived (or ``stop_after_batches``), checkpointing each."""
    records, batches = [], []
    async for batch in consumer.batches():
        batches.append(batch)
        records.extend(batch.records)
        if checkpoint:
            await consumer.checkpoint(batch)
        if len(records) >= count or (stop_after_batches and len(batches) >= stop_after_batches):
            break
    return records, batches


def data(records):
    return [r.data.decode() for r in records]


async def test_reads_every_record_of_a_multi_shard_stream(local_stack):
    stream = await make_stream(3)
    written, expected = put(stream, keys=8, per_key=30, aggregate_every=10)
    registry = CollectorRegistry()
    config = ConsumerConfig(stream, max_records_per_call=50, **FAST)
    async with KinesisConsumer(config, registry=registry) as consumer:
        records, batches = await asyncio.wait_for(collect(consumer, len(expected)), 30)
    assert written < len(expected)  # some Kinesis records carried 3 user records
    assert sorted(data(records)) == sorted(expected)
    assert_per_key_order(records)
    shards = {r.shard_id for r in records}
    assert len(shards) == 3
    assert {r.sub_sequence_number for r in records} == {0, 1, 2}
    assert max(len(b.records) for b in batches) <= 50 * 3  # Limit counts Kinesis records
    counted = sum(registry.get_sample_value("shardline_consumer_records_total", {"stream": stream, "shard_id": s})
                  for s in shards)
    assert counted == len(records)
    for shard_id in shards:
        lag = registry.get_sample_value("shardline_consumer_millis_behind_latest",
                                        {"stream": stream, "shard_id": shard_id})
        assert lag is not None and lag >= 0


async def test_restart_redelivers_only_what_was_not_checkpointed(local_stack, tmp_path):
    stream = await make_stream(2)
    _, expected = put(stream, keys=4, per_key=50)
    path = tmp_path / "checkpoints.json"
    config = ConsumerConfig(stream, max_records_per_call=20, **FAST)

    async with KinesisConsumer(config, checkpoints=FileCheckpointStore(path)) as first:
        done, in_flight = [], []
        async for batch in first.batches():
            if len(done) >= 60:
                in_flight.extend(batch.records)  # "killed" while processing: never checkpointed
                break
            done.extend(batch.records)
            await first.checkpoint(batch)
    assert in_flight

    async with KinesisConsumer(config, checkpoints=FileCheckpointStore(path)) as second:
        rest, _ = await asyncio.wait_for(collect(second, len(expected) - len(done)), 30)
    assert not set(data(done)) & set(data(rest)), "checkpointed records were delivered again"
    assert set(data(in_flight)) <= set(data(rest)), "the in-flight batch was not redelivered"
    assert sorted(data(done) + data(rest)) == sorted(expected)


async def test_resume_inside_an_aggregated_record(local_stack, tmp_path):
    stream = await make_stream(1)
    kinesis = boto3.client("kinesis")
    kinesis.put_record(StreamName=stream, PartitionKey="k",
                       Data=aggregate([UserRecord("k", f"a{i}".encode()) for i in range(5)]))
    kinesis.put_record(StreamName=stream, PartitionKey="k", Data=b"b0")
    config = ConsumerConfig(stream, **FAST)
    store = FileCheckpointStore(tmp_path / "cp.json")
    async with KinesisConsumer(config, checkpoints=store) as first:
        records, batches = await asyncio.wait_for(collect(first, 6, checkpoint=False), 30)
        await first.checkpoint(batches[0], record=records[2])  # processed a0..a2 of the aggregate
    assert data(records) == ["a0", "a1", "a2", "a3", "a4", "b0"]
    async with KinesisConsumer(config, checkpoints=FileCheckpointStore(tmp_path / "cp.json")) as second:
        rest, _ = await asyncio.wait_for(collect(second, 3), 30)
    assert data(rest) == ["a3", "a4", "b0"]
    assert [r.sub_sequence_number for r in rest] == [3, 4, 0]


async def test_snapshot_rebuild_resume(local_stack):
    stream = await make_stream(2)
    _, expected = put(stream, keys=4, per_key=25)
    config = ConsumerConfig(stream, max_records_per_call=10, **FAST)
    async with KinesisConsumer(config) as first:
        seen, _ = await asyncio.wait_for(collect(first, 40), 30)
        snapshot = first.snapshot()
    assert set(snapshot) <= {"shardId-000000000000", "shardId-000000000001"} and snapshot
    async with KinesisConsumer(config, checkpoints=MemoryCheckpointStore(snapshot)) as rebuilt:
        rest, _ = await asyncio.wait_for(collect(rebuilt, 100 - len(seen)), 30)
        assert all(Checkpoint.decode(v) for v in rebuilt.snapshot().values())
    assert not set(data(seen)) & set(data(rest)), "the rebuilt consumer re-read checkpointed records"
    assert sorted(data(seen) + data(rest)) == sorted(expected)


async def test_unreachable_endpoint_names_the_variable(local_stack):
    with patched_environ({"AWS_ENDPOINT_URL_KINESIS": "http://127.0.0.1:9"}):
        with pytest.raises(EndpointUnreachable, match="AWS_ENDPOINT_URL_KINESIS"):
            async with KinesisConsumer(ConsumerConfig("nowhere", **FAST)):
                pass


# -- DynamoDB lease table (moto and dynalite) ---------------------------------------------------------------

async def test_two_workers_cannot_both_take_a_lease(dynamodb_stack):
    table = unique("leases")
    a, b = DynamoDBLeaseTable(table, worker_id="a"), DynamoDBLeaseTable(table, worker_id="b")
    await a.open()
    await b.open()  # the table exists now: no second create
    try:
        assert await a.create(ShardInfo("shardId-0")) is True
        assert await b.create(ShardInfo("shardId-0")) is False
        assert await a.take("shardId-0", 0) is True
        assert await b.take("shardId-0", 0) is False  # a's take moved the counter
        owners = await asyncio.gather(a.claim([ShardInfo("shardId-1")]), b.claim([ShardInfo("shardId-1")]))
        assert sum("shardId-1" in o for o in owners) == 1
        with pytest.raises(LeaseLostError):
            await b.checkpoint("shardId-0", Checkpoint("1"))
    finally:
        await a.close()
        await b.close()


async def test_stale_owner_cannot_move_a_checkpoint(dynamodb_stack):
    table, clock = unique("leases"), FakeClock()
    config = LeaseTableConfig(failover_s=10, renew_interval_s=3)
    old = DynamoDBLeaseTable(table, worker_id="old", config=config, clock=clock)
    new = DynamoDBLeaseTable(table, worker_id="new", config=config, clock=clock)
    await old.open()
    await new.open()
    shards = [ShardInfo("shardId-0")]
    try:
        assert await old.claim(shards) == {"shardId-0"}
        await old.checkpoint("shardId-0", Checkpoint("100", 2))
        assert await new.claim(shards) == set()      # owned and fresh
        clock.advance(9)
        assert await new.claim(shards) == set()      # not yet expired
        clock.advance(2)                             # old neither renewed nor checkpointed for 11 s
        assert await new.claim(shards) == {"shardId-0"}
        with pytest.raises(LeaseLostError):
            await old.checkpoint("shardId-0", Checkpoint("200"))
        assert (await new.load())["shardId-0"] == Checkpoint("100", 2)
        await new.checkpoint("shardId-0", Checkpoint("150"))
        assert await old.claim(shards) == set()
        assert (await old.load())["shardId-0"] == Checkpoint("150")
    finally:
        await old.close()
        await new.close()


async def test_two_consumers_share_the_shards(dynamodb_stack):
    stream, table = await make_stream(4), unique("app")
    config = ConsumerConfig(stream, application_name=table, max_records_per_call=20, **FAST)
    leases = LeaseTableConfig(failover_s=5, renew_interval_s=0.5)
    got: dict[str, list] = {"a": [], "b": []}
    stops = {"a": asyncio.Event(), "b": asyncio.Event()}
    consumers = {}

    async def worker(name):
        async with KinesisConsumer(config, checkpoints=DynamoDBLeaseTable(table, worker_id=name,
                                                                          config=leases)) as consumer:
            consumers[name] = consumer
            async def read():
                async for batch in consumer.batches():
                    got[name].extend(batch.records)
                    await consumer.checkpoint(batch)
            reader = asyncio.create_task(read())
            await stops[name].wait()
            reader.cancel()

    async def until(condition):
        for _ in range(200):
            if condition():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("condition not met in 10 s")

    dynamodb = boto3.client("dynamodb")

    def owners():
        try:
            items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
        except dynamodb.exceptions.ResourceNotFoundException:
            return []  # the first worker has not created the table yet
        return sorted(i.get("leaseOwner", {}).get("S", "-") for i in items)

    workers = [asyncio.create_task(worker("a"))]
    await until(lambda: owners() == ["a"] * 4)
    workers.append(asyncio.create_task(worker("b")))
    await until(lambda: owners() == ["a", "a", "b", "b"])  # the newcomer stole its share
    # ... and the old owner noticed (a lease is lost to it on its next claim).
    await until(lambda: all(len(consumers[n].owned_shards) == 2 for n in "ab"))
    _, expected = put(stream, keys=16, per_key=10)
    await until(lambda: len(got["a"]) + len(got["b"]) >= len(expected))
    assert sorted(data(got["a"] + got["b"])) == sorted(expected)  # balanced and stable: each once
    assert {r.shard_id for r in got["a"]}.isdisjoint({r.shard_id for r in got["b"]})
    assert got["a"] and got["b"]

    stops["a"].set()  # a releases its leases on the way out; b takes them without waiting for expiry
    await workers[0]
    await until(lambda: owners() == ["b"] * 4 and len(consumers["b"].owned_shards) == 4)
    _, more = put(stream, keys=16, per_key=3)
    await until(lambda: len(got["b"]) >= len(expected) - len(got["a"]) + len(more))
    stops["b"].set()
    await workers[1]
    assert sorted(data(got["a"] + got["b"])) == sorted(expected + more)


def malformed_aggregate():
    body = b"\x1a\x05ab"  # protobuf field 3 claims 5 bytes and has 2; the MD5 matches, so it is not plain data
    return MAGIC + body + hashlib.md5(body).digest()


async def test_malformed_aggregate_is_dead_lettered_and_the_rest_delivered(local_stack, tmp_path):
    stream = await make_stream(1)
    kinesis = boto3.client("kinesis")
    for body in (b"before", malformed_aggregate(), b"after"):
        kinesis.put_record(StreamName=stream, PartitionKey="k", Data=body)
    letters = FileDeadLetters(tmp_path / "dlq.jsonl")
    async with KinesisConsumer(ConsumerConfig(stream, **FAST), dead_letters=letters) as consumer:
        records, _ = await asyncio.wait_for(collect(consumer, 2), 30)
    await letters.close()
    assert data(records) == ["before", "after"]
    [letter] = [DeadLetter.from_json(line) for line in (tmp_path / "dlq.jsonl").read_text().splitlines()]
    assert letter.error_type == "AggregationError"
    assert letter.source.startswith(f"kinesis:{stream}/shardId-000000000000/")
    assert letter.data == malformed_aggregate()

    async with KinesisConsumer(ConsumerConfig(stream, **FAST)) as strict:
        with pytest.raises(ConsumerError, match="dead_letters="):
            await asyncio.wait_for(collect(strict, 3), 30)


@pytest.mark.parametrize("gone", ["below the oldest record", "refused by Kinesis"])
async def test_a_checkpoint_older_than_the_trim_horizon_restarts_the_shard_there_counted_and_warned(
        local_stack, caplog, gone):
    """Retention trimmed the checkpointed record: the shard reads on from its oldest record, once, without failing
    or looping; the gap is counted and one warning names the shard.  (kinesalite keeps 24 h at least, so the
    checkpoint is made to point below the oldest record: the shard's starting sequence number, which Kinesis
    takes, or a sequence number it refuses as not of the stream.)"""
    stream = await make_stream(1)
    _, expected = put(stream, keys=2, per_key=10)
    shard = boto3.client("kinesis").list_shards(StreamName=stream)["Shards"][0]
    start = int(shard["SequenceNumberRange"]["StartingSequenceNumber"])
    below = str(start) if gone == "below the oldest record" else str(start + 1)
    registry = CollectorRegistry()
    config = ConsumerConfig(stream, **FAST)
    checkpoints = MemoryCheckpointStore({shard["ShardId"]: Checkpoint(below).encode()})
    async with KinesisConsumer(config, checkpoints=checkpoints, registry=registry) as consumer:
        records, _ = await asyncio.wait_for(collect(consumer, len(expected)), 30)
    assert data(records) == expected  # every record still there, once
    assert registry.get_sample_value("shardline_consumer_retention_gaps_total",
                                     {"stream": stream, "shard_id": shard["ShardId"]}) == 1
    warnings = [r for r in caplog.records if "checkpoint_older_than_trim_horizon" in r.getMessage()]
    assert len(warnings) == 1 and shard["ShardId"] in warnings[0].getMessage()
