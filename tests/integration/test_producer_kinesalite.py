"""The producer against kinesalite: aggregated records read back with plain boto3 and de-aggregated."""
import random
import uuid

import boto3
import pytest
from prometheus_client import CollectorRegistry

from connectors.aws import async_client
from connectors.kinesis.aggregation import deaggregate, hash_key, is_aggregated
from connectors.kinesis.producer import KinesisProducer, ProducerConfig
from connectors.kinesis.streams import create_stream_and_wait

pytestmark = pytest.mark.integration


def read_stream(stream: str) -> dict[str, list[tuple[str, bytes]]]:
    """Every Kinesis record of every shard, in shard order, as (partition key, data) after de-aggregation."""
    kinesis = boto3.client("kinesis")
    out: dict[str, list[tuple[str, bytes]]] = {}
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records = out.setdefault(shard["ShardId"], [])
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            for record in page["Records"]:
                assert is_aggregated(record["Data"])
                records.extend((u.partition_key, u.data) for u in deaggregate(record["Data"], record["PartitionKey"]))
            if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
                break
            iterator = page.get("NextShardIterator")
    return out


async def test_ten_thousand_aggregated_records_round_trip_in_key_order(local_stack):
    stream = f"producer-{uuid.uuid4().hex[:8]}"
    async with async_client("kinesis") as kinesis:
        await create_stream_and_wait(kinesis, stream, 4)
    rng = random.Random(11)
    sent: dict[str, list[bytes]] = {}
    config = ProducerConfig(stream, aggregate=True, aggregation_max_bytes=8192)
    async with KinesisProducer(config, registry=CollectorRegistry()) as producer:
        for i in range(10_000):
            key = f"sensor-{rng.randrange(300)}-é"
            data = f"{key}:{len(sent.get(key, []))}:{i}".encode()
            sent.setdefault(key, []).append(data)
            await producer.put(data, key)
    assert producer.stats.records_sent == 10_000 and producer.stats.failed == 0
    assert producer.stats.kinesis_records_sent < 10_000 / 20

    received: dict[str, list[bytes]] = {}
    shards_of_key: dict[str, set[str]] = {}
    for shard_id, records in read_stream(stream).items():
        for key, data in records:
            received.setdefault(key, []).append(data)
            shards_of_key.setdefault(key, set()).add(shard_id)
    assert received == sent  # every record, once, in per-key order
    # Each key sits on the one shard whose hash-key range holds it, so readers that filter by range keep it.
    ranges = {s["ShardId"]: (int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
              for s in boto3.client("kinesis").list_shards(StreamName=stream)["Shards"]}
    for key, shards in shards_of_key.items():
        (shard_id,) = shards
        low, high = ranges[shard_id]
        assert low <= hash_key(key) <= high
    assert len({s for shards in shards_of_key.values() for s in shards}) == 4
