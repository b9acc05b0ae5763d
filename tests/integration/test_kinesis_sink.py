"""KinesisStreamSink on kinesalite: records arrive as Avro envelopes, keyed by their partition key."""
import uuid

import boto3
import pytest
from prometheus_client import CollectorRegistry

from connectors.kinesis.producer import ProducerConfig
from connectors.sinks import KinesisStreamSink, SinkError
from pipelines.records import Record, from_avro

pytestmark = pytest.mark.integration


async def test_kinesis_sink_writes_avro_envelopes(local_stack):
    stream = f"sink-out-{uuid.uuid4().hex[:8]}"
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1})
    sent = [Record(id=f"r{i}", type="t", source="s", partition_key=f"k{i % 3}", event_time=i, payload={"i": i})
            for i in range(20)]
    async with KinesisStreamSink(ProducerConfig(stream), registry=CollectorRegistry()) as sink:
        for record in sent:
            await sink.add(record)
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    got = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert [(from_avro(r["Data"]), r["PartitionKey"]) for r in got] == [(r, r.partition_key) for r in sent]


async def test_kinesis_sink_missing_stream_is_a_clear_error(local_stack):
    sink = KinesisStreamSink(ProducerConfig(f"missing-{uuid.uuid4().hex[:8]}"), registry=CollectorRegistry())
    with pytest.raises(SinkError, match="does not exist"):
        await sink.add(Record(id="a", type="t", source="s", partition_key="k", payload={}))
    await sink.close()
