"""Sinks and dead-letter stores against moto server (S3, DynamoDB, Firehose), through aiobotocore."""
import gzip
import io
import re
import uuid
from decimal import Decimal

import boto3
import pytest
from prometheus_client import CollectorRegistry

from connectors.dead_letter import DeadLetter, DeadLetterError, FileDeadLetters, S3DeadLetters, read_dead_letters
from connectors.sinks import (
    DynamoDBSink, DynamoDBSinkConfig, FirehoseSink, FirehoseSinkConfig, S3Sink, S3SinkConfig, SinkError,
    record_to_item,
)
from pipelines.clock import FakeClock
from pipelines.records import Record, from_avro, from_json_line, read_avro_file

pytestmark = pytest.mark.integration

HOUR_22 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
HOUR_00 = 1_700_006_400_000  # 2023-11-15T00:00:00Z


def records() -> list[Record]:
    return [
        Record(id="a", type="reading", source="sensor", partition_key="s1", event_time=HOUR_22,
               payload={"temp": 21.5, "ok": True, "note": None, "raw": b"\x00\x01"}),
        Record(id="b", type="reading", source="sensor", partition_key="s2", event_time=HOUR_22 + 1000,
               payload=b"\xffopaque", schema="blob.v1"),
        Record(id="c", type="reading", source="sensor", partition_key="s1", event_time=HOUR_00,
               payload={"temp": -3, "unit": "C"}),
    ]


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:10]}"


def new_bucket() -> str:
    bucket = unique("sinks")
    boto3.client("s3").create_bucket(Bucket=bucket)
    return bucket


def objects(bucket: str, prefix: str) -> dict[str, bytes]:
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


@pytest.mark.parametrize("fmt", ["avro", "jsonl.gz"])
async def test_s3_sink_writes_one_readable_object_per_partition(local_stack, fmt):
    bucket = new_bucket()
    async with S3Sink(S3SinkConfig(bucket, prefix="out/readings", format=fmt), registry=CollectorRegistry()) as sink:
        for record in records():
            await sink.add(record)
    written = objects(bucket, "out/readings/")
    ext = re.escape("." + fmt)
    pattern = re.compile(rf"out/readings/dt=(\d{{4}}-\d\d-\d\d)/hour=(\d\d)/[0-9a-f-]{{36}}{ext}")
    partitions = {}
    for key, body in written.items():
        match = pattern.fullmatch(key)
        assert match, key
        if fmt == "avro":
            found = list(read_avro_file(io.BytesIO(body)))
        else:
            found = [from_json_line(line) for line in gzip.decompress(body).decode().splitlines()]
        partitions[match.groups()] = found
    expected = records()
    assert partitions == {("2023-11-14", "22"): expected[:2], ("2023-11-15", "00"): expected[2:]}


async def test_dynamodb_sink_writes_items_and_dead_letters_the_invalid_one(dynamodb_stack, tmp_path):
    table = unique("readings")
    ddb = boto3.client("dynamodb")
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")

    def mapper(record: Record) -> dict:
        item = record_to_item(record)
        if record.id == "keyless":
            del item["id"]  # the table's key is missing: DynamoDB refuses the whole call
        return item

    letters = FileDeadLetters(tmp_path / "dlq.jsonl")
    bad = Record(id="keyless", type="reading", source="sensor", partition_key="s9", event_time=1, payload={})
    async with DynamoDBSink(DynamoDBSinkConfig(table), item_mapper=mapper, dead_letters=letters,
                            registry=CollectorRegistry()) as sink:
        for record in records()[:2] + [bad] + records()[2:]:
            await sink.add(record)
    await letters.close()

    items = {i["id"]: i for i in boto3.resource("dynamodb").Table(table).scan(ConsistentRead=True)["Items"]}
    assert sorted(items) == ["a", "b", "c"]
    assert items["a"]["temp"] == Decimal("21.5") and items["a"]["ok"] is True and items["a"]["note"] is None
    assert items["a"]["raw"].value == b"\x00\x01" and items["a"]["event_time"] == HOUR_22
    assert items["b"]["payload"].value == b"\xffopaque" and items["b"]["schema"] == "blob.v1"
    assert "schema" not in items["c"] and items["c"]["unit"] == "C"
    letters_read = list(read_dead_letters(tmp_path / "dlq.jsonl"))
    assert [(from_avro(l.data), l.error_type, l.attempts) for l in letters_read] == [(bad, "ValidationException", 1)]
    assert letters_read[0].source == f"dynamodb:{table} id=keyless"


async def test_firehose_sink_records_land_in_s3_as_json_lines(local_stack):
    bucket, stream = new_bucket(), unique("readings")
    boto3.client("firehose").create_delivery_stream(
        DeliveryStreamName=stream, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={"RoleARN": "arn:aws:iam::123456789012:role/firehose",
                                            "BucketARN": f"arn:aws:s3:::{bucket}", "Prefix": "fh/"})
    async with FirehoseSink(FirehoseSinkConfig(stream), registry=CollectorRegistry()) as sink:
        for record in records():
            await sink.add(record)
        await sink.flush()  # moto delivers to S3 inside PutRecordBatch
        lines = b"".join(objects(bucket, "fh/").values()).decode().splitlines()
    assert [from_json_line(line) for line in lines] == records()


async def test_firehose_sink_missing_stream_is_fatal_and_keeps_the_records(local_stack):
    sink = FirehoseSink(FirehoseSinkConfig(unique("missing")), registry=CollectorRegistry())
    await sink.add(records()[0])
    with pytest.raises(SinkError, match="ResourceNotFoundException. does it exist"):
        await sink.flush()
    assert len(sink._buffer) == 1
    await sink._client.close()


async def test_s3_dead_letters_one_json_lines_object_per_flush(local_stack):
    bucket, clock = new_bucket(), FakeClock(HOUR_00 / 1000)
    store = S3DeadLetters(bucket, "dlq/", clock=clock, mask=lambda data: b"#" * len(data))
    first = DeadLetter("gave up", "InternalFailure", "kinesis:s/shardId-000/1", 5, b"card", clock.time())
    await store.put(first)
    await store.put(DeadLetter("bad", "ValidationException", "file:in.jsonl:line 12", 0, b"x", clock.time()))
    await store.flush()
    await store.put(first)
    await store.close()
    written = objects(bucket, "dlq/")
    assert len(written) == 2 and all(re.fullmatch(r"dlq/dt=2023-11-15/hour=00/\d{13}-\d{6}-[0-9a-f-]{36}\.jsonl", k) for k in written)
    letters = [DeadLetter.from_json(line) for key in store.keys for line in written[key].splitlines()]
    assert [(l.error_type, l.data) for l in letters] == [("InternalFailure", b"####"), ("ValidationException", b"#"),
                                                         ("InternalFailure", b"####")]

    missing = S3DeadLetters(unique("no-such-bucket"), clock=clock)
    await missing.put(first)
    with pytest.raises(DeadLetterError, match="does the bucket exist"):
        await missing.close()
