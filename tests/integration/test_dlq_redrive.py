"""Dead letters a sink stored on S3 (moto), masked, redriven onto a kinesalite stream by `shardline dlq redrive`."""
import asyncio
import json
import uuid

import boto3
import pytest
from typer.testing import CliRunner

from connectors.dead_letter import DeadLetter, S3DeadLetters
from connectors.testing import read_stream_data
from jobs.cli import app
from pipelines.pii.dead_letters import DeadLetterMask
from pipelines.records import Record, from_avro, to_avro

pytestmark = pytest.mark.integration
runner = CliRunner()


async def store_letters(bucket: str, sent: list[Record]) -> None:
    store = S3DeadLetters(bucket, "sinks/dynamodb", mask=DeadLetterMask())
    for i, record in enumerate(sent):
        await store.put(DeadLetter("ProvisionedThroughputExceededException after 8 attempts",
                                   "ProvisionedThroughputExceededException", f"dynamodb:payments/{record.id}", 8,
                                   to_avro(record), 1_767_225_600.0 + i))
        if i == 5:
            await store.flush()  # two objects: redrive reads them in key order
    await store.put(DeadLetter("bad", "RecordValidationError", "file:x:line 1", 1, b"{not json", 0.0))
    await store.close()


def test_s3_dead_letters_go_back_onto_a_stream_masked_and_in_order(local_stack, tmp_path):
    bucket, stream = f"dlq-{uuid.uuid4().hex[:8]}", f"redrive-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1})
    sent = [Record(id=f"r{i}", type="payment", source="s", partition_key=f"k{i % 3}", event_time=i,
                   payload={"n": i, "email": f"person{i}@example.com"}) for i in range(12)]
    asyncio.run(store_letters(bucket, sent))

    source = f"s3://{bucket}/sinks/dynamodb"
    summary = json.loads(runner.invoke(app, ["dlq", "summary", source, "--json"]).stdout)
    assert (summary["letters"], summary["redrivable"]) == (13, 12)

    rest = tmp_path / "rest.dlq.jsonl"
    result = runner.invoke(app, ["dlq", "redrive", source, "--to", f"kinesis:{stream}", "--remaining", str(rest),
                                 "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["redriven"] == 12 and rest.read_text().count("\n") == 1

    got = [from_avro(data) for data in read_stream_data(kinesis, stream)]
    assert sorted(r.id for r in got) == sorted(r.id for r in sent)
    for key in ("k0", "k1", "k2"):  # per-key order holds (one key, one shard)
        assert [r.id for r in got if r.partition_key == key] == [r.id for r in sent if r.partition_key == key]
    assert all("@example.com" not in r.payload["email"] for r in got)  # stored masked, redriven masked


def test_a_missing_bucket_is_a_clear_error(local_stack):
    result = runner.invoke(app, ["dlq", "summary", f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/dlq"])
    assert result.exit_code == 2 and "NoSuchBucket" in result.output and "s3:ListBucket" in result.output
