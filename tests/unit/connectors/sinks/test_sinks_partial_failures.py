"""Service-specific partial failures the local stack never produces, forced with fake clients.

moto accepts every BatchWriteItem and PutRecordBatch whole, so UnprocessedItems,
per-entry ErrorCodes and whole-call ValidationExceptions are injected here.
"""
import math

import botocore.exceptions
import pytest
from prometheus_client import CollectorRegistry

from connectors.kinesis.producer import FailedRecord, ProducerConfig, ProducerError, RecordTooLargeError
from connectors.sinks import (
    DynamoDBSink, DynamoDBSinkConfig, FirehoseSink, FirehoseSinkConfig, KinesisStreamSink, S3Sink, S3SinkConfig,
    SinkConfig, SinkError, record_to_item,
)
from connectors.testing import AsyncScriptedFirehose, ListDeadLetters, make_record
from pipelines.clock import FakeClock
from pipelines.records import Record, from_avro, to_avro


def rec(rid: str, **payload) -> Record:
    return make_record(valid=False, id=rid, source="s", partition_key="k", event_time=1_700_000_000_000,
                       payload=payload)


def error(code: str, message: str = "m") -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": message}}, "Op")


class FakeDynamoDB:
    """Refuses a call with an item whose 'bad' attribute is set; leaves 'slow*' items unprocessed once."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.table: dict[str, dict] = {}
        self.deferred: set[str] = set()

    async def batch_write_item(self, RequestItems):
        (name, requests), = RequestItems.items()
        items = [r["PutRequest"]["Item"] for r in requests]
        ids = [item["id"]["S"] for item in items]
        self.calls.append(ids)
        assert len(items) <= 25 and len(set(ids)) == len(ids), "DynamoDB refuses such a call"
        if any("bad" in item for item in items):
            raise error("ValidationException", "One or more parameter values were invalid")
        unprocessed = []
        for item in items:
            rid = item["id"]["S"]
            if rid.startswith("slow") and rid not in self.deferred:
                self.deferred.add(rid)
                unprocessed.append({"PutRequest": {"Item": item}})
            else:
                self.table[rid] = item
        return {"UnprocessedItems": {name: unprocessed} if unprocessed else {}}


async def test_dynamodb_retries_unprocessed_items_and_isolates_the_invalid_one():
    fake, dlq, clock = FakeDynamoDB(), ListDeadLetters(), FakeClock()
    sink = DynamoDBSink(DynamoDBSinkConfig("t", batching=SinkConfig(max_batch_records=60)), client=fake,
                        dead_letters=dlq, clock=clock, registry=CollectorRegistry())
    records = [rec(f"r{i}", n=i) for i in range(30)] + [rec("r29", n=-1)]  # a replayed key: another call
    records += [rec("slow1"), rec("slow2"), rec("x", bad=True)]
    for r in records:
        await sink.add(r)
    await sink.flush()
    assert dlq.ids() == ["x"] and dlq.letters[0].error_type == "ValidationException"
    assert dlq.letters[0].attempts == 1
    assert sorted(fake.table) == sorted({r.id for r in records[:-1]})
    assert fake.calls[:2] == [[f"r{i}" for i in range(25)], [f"r{i}" for i in range(25, 30)]]
    assert fake.calls[2] == ["r29", "slow1", "slow2", "x"]  # refused whole, then split until x is alone
    assert fake.calls[-1] == ["slow1", "slow2"]  # the retry carries only the unprocessed items
    assert len(clock.slept) == 1


def test_record_to_item_flattens_payload_and_keeps_envelope_fields():
    item = record_to_item(rec("a", id="payload-id", price=0.1, flag=True))
    assert item["id"] == "a" and item["payload.id"] == "payload-id" and item["price"] == 0.1
    assert "schema" not in item
    assert record_to_item(Record(id="b", type="t", source="s", partition_key="k", payload=b"\x00"))["payload"] == b"\x00"


async def test_dynamodb_values_it_cannot_store_are_dead_lettered_at_add():
    dlq = ListDeadLetters()
    sink = DynamoDBSink(DynamoDBSinkConfig("t"), client=FakeDynamoDB(), dead_letters=dlq, clock=FakeClock(),
                        registry=CollectorRegistry())
    await sink.add(rec("nan", v=math.nan))
    assert [(letter.error_type, letter.attempts) for letter in dlq.letters] == [("SerializationException", 0)]


async def test_firehose_retries_only_entries_with_an_error_code():
    fake = AsyncScriptedFirehose({1, 3, 5})  # the first call refuses every other entry, the second takes them
    sink = FirehoseSink(FirehoseSinkConfig("d"), client=fake, clock=FakeClock(), registry=CollectorRegistry())
    for i in range(6):
        await sink.add(rec(f"r{i}"))
    await sink.flush()
    assert [len(call) for call in fake.calls] == [6, 3]
    assert len(fake.delivered) == 6 and all(d.endswith(b"\n") for d in fake.delivered)


class FakeS3:
    def __init__(self, slow_partition: str) -> None:
        self.slow_partition = slow_partition
        self.objects: dict[str, bytes] = {}
        self.refused = 0

    async def put_object(self, Bucket, Key, Body, ContentType):
        if self.slow_partition in Key and not self.refused:
            self.refused += 1
            raise error("SlowDown")
        self.objects[Key] = Body


async def test_s3_retries_only_the_throttled_partition_and_dead_letters_impossible_times():
    fake, dlq = FakeS3("hour=00"), ListDeadLetters()
    sink = S3Sink(S3SinkConfig("b", prefix="p/", format="jsonl.gz"), client=fake, dead_letters=dlq,
                  clock=FakeClock(), registry=CollectorRegistry())
    await sink.add(rec("a"))  # 2023-11-14 22:13 UTC
    await sink.add(Record(id="b", type="t", source="s", partition_key="k", event_time=1_700_006_400_000, payload={}))
    await sink.add(Record(id="c", type="t", source="s", partition_key="k", event_time=2**62, payload={}))
    await sink.flush()
    assert sorted(key.rsplit("/", 1)[0] for key in fake.objects) == ["p/dt=2023-11-14/hour=22",
                                                                      "p/dt=2023-11-15/hour=00"]
    assert fake.refused == 1 and len(fake.objects) == 2  # hour=22 was not written twice
    assert dlq.ids() == ["c"] and dlq.letters[0].error_type == "InvalidEventTime"


class FakeProducer:
    """The KinesisProducer contract: put() refuses oversized records, flush() reports what it gave up on."""

    def __init__(self) -> None:
        self.put_records: list[tuple[bytes, str]] = []
        self.give_up: list = []
        self.entered = self.closed = False

    async def __aenter__(self):
        self.entered = True
        return self

    async def put(self, data, partition_key, explicit_hash_key=None):
        if len(data) > 1000:
            raise RecordTooLargeError(f"record with partition key {partition_key!r} is too large")
        self.put_records.append((data, partition_key))

    async def flush(self):
        failures, self.give_up = self.give_up, []
        if failures:
            raise ProducerError("gave up", failures)

    async def close(self):  # like KinesisProducer.close: it closes even when the flush reports failures
        try:
            await self.flush()
        finally:
            self.closed = True


async def test_kinesis_sink_dead_letters_oversized_and_given_up_records():
    producer, dlq = FakeProducer(), ListDeadLetters()
    sink = KinesisStreamSink(ProducerConfig("out"), producer=producer, dead_letters=dlq, clock=FakeClock(),
                             registry=CollectorRegistry())
    await sink.add(rec("big", blob="x" * 2000, owner="alice"))
    await sink.add(rec("ok"))
    data, key = producer.put_records[0]
    assert from_avro(data) == rec("ok") and key == "k" and producer.entered
    producer.give_up = [FailedRecord("k", data, None, "ProvisionedThroughputExceededException", "Rate exceeded", 10)]
    await sink.close()
    assert producer.closed
    assert [(from_avro(l.data).id, l.error_type, l.attempts) for l in dlq.letters] == [
        ("big", "RecordTooLarge", 0), ("ok", "ProvisionedThroughputExceededException", 10)]
    assert "'k'" not in dlq.letters[0].reason and "gave up after 10 attempts" in dlq.letters[1].reason
    assert dlq.letters[1].source == "kinesis:out id=ok"


async def test_kinesis_sink_stops_when_the_producer_stops_after_dead_lettering_what_it_held():
    class StoppedProducer(FakeProducer):
        async def flush(self):
            held = [FailedRecord("k", to_avro(rec("held")), None, "ResourceNotFoundException", "deleted", 1)]
            raise ProducerError("producer for stream 'out' stopped", held) from RuntimeError("stream deleted")

    dlq = ListDeadLetters()
    sink = KinesisStreamSink(ProducerConfig("out"), producer=StoppedProducer(), dead_letters=dlq, clock=FakeClock(),
                             registry=CollectorRegistry())
    await sink.add(rec("held"))
    with pytest.raises(SinkError, match="stopped"):
        await sink.flush()
    assert dlq.ids() == ["held"]
