"""Resharding on kinesis-mock (it implements UpdateShardCount): nothing lost, per-key order kept."""
import asyncio
import uuid
from collections import defaultdict

import pytest
from prometheus_client import CollectorRegistry

from connectors.aws import async_client
from connectors.kinesis.consumer import ConsumerConfig, KinesisConsumer
from connectors.kinesis.producer import KinesisProducer, ProducerConfig
from connectors.kinesis.streams import create_stream_and_wait, list_shards

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
KEYS, PER_KEY = 100, 15  # 1,500 records (kinesis-mock takes ~1k puts/s); one round trip per i


async def produce(stream: str, reshard_after: int) -> None:
    """Write ``key-k:i`` in order of i per key through KinesisProducer (it keeps per-key order across
    retries) and call UpdateShardCount 2 -> 4 part-way, without waiting for it to finish."""
    config = ProducerConfig(stream, shard_refresh_s=0.5, linger_s=0.01)
    async with async_client("kinesis") as kinesis, KinesisProducer(config, registry=CollectorRegistry()) as producer:
        for i in range(PER_KEY):
            if i == reshard_after:
                await producer.flush()  # the first third lands in the parents
                await kinesis.update_shard_count(StreamName=stream, TargetShardCount=4,
                                                 ScalingType="UNIFORM_SCALING")
            for k in range(KEYS):
                await producer.put(f"key-{k}:{i}".encode(), f"key-{k}")


async def read_all(config: ConsumerConfig) -> tuple[dict[str, list[int]], dict[str, list[str]], dict[str, str]]:
    """Consume until every record arrived: per key, the counters and the shards they came from."""
    seen: dict[str, list[int]] = defaultdict(list)
    shard_of: dict[str, list[str]] = defaultdict(list)
    count = 0
    async with KinesisConsumer(config) as consumer:
        async for batch in consumer.batches():
            for record in batch.records:
                key, index = record.data.decode().split(":")
                seen[key].append(int(index))
                shard_of[key].append(record.shard_id)
                count += 1
            await consumer.checkpoint(batch)
            if count >= KEYS * PER_KEY:
                break
        return seen, shard_of, consumer.snapshot()


async def test_update_shard_count_mid_stream_loses_nothing_and_keeps_key_order(kinesis_mock_stack):
    stream = f"reshard-{uuid.uuid4().hex[:8]}"
    async with async_client("kinesis") as kinesis:
        await create_stream_and_wait(kinesis, stream, 2)
    config = ConsumerConfig(stream, max_records_per_call=100, min_call_interval_s=0.02, idle_interval_s=0.05,
                            discovery_interval_s=0.2, backoff_base_s=0.02)
    producer = asyncio.create_task(produce(stream, PER_KEY // 3))
    # One consumer tails the stream while it is resharded; a second starts afterwards, when parents
    # and children both hold a backlog (reading them at once would interleave a key's records).
    live = await asyncio.wait_for(asyncio.gather(producer, read_all(config)), 90)
    backlog = await asyncio.wait_for(read_all(config), 60)
    async with async_client("kinesis") as kinesis:
        shards = await list_shards(kinesis, stream)
    parents = {s["ShardId"] for s in shards if "EndingSequenceNumber" in s["SequenceNumberRange"]}
    assert len(parents) >= 2 and len(shards) - len(parents) == 4
    for seen, shard_of, snapshot in (live[1], backlog):
        assert all(snapshot.get(p) == "SHARD_END" for p in parents)
        assert len(seen) == KEYS
        for key, indexes in seen.items():
            assert indexes == list(range(PER_KEY)), f"{key}: lost, duplicated or reordered"
        # Every key moved from a parent to a child mid-stream, so order across the reshard was tested.
        assert all(shard_of[k][0] in parents and shard_of[k][-1] not in parents for k in seen)
