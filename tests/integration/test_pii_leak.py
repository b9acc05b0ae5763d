"""Leak test on the local stack: canary PII in, then every sink, log line and metric scanned for it.

`shardline pii run` (the local runner engine) masks a stream into a Kinesis
stream, S3 and Firehose (delivered to S3 by moto), with S3 dead letters;
`shardline pii mask` masks a file with bad lines into a dead-letter file.
Scanned: every S3 object (curated Avro, Firehose bulk lines, dead letters),
the masked stream, the dead-letter file and the masked file, the captured
log records and file descriptors, the CLI's output, and the Prometheus text
of the default registry (the one the CLI uses).  Each canary is looked for
raw and as its digits only.  The end-to-end test over all three engines is
``tests/e2e/test_pii_engines.py``.
"""
from __future__ import annotations

import itertools
import json
import logging
import uuid

import boto3
import pytest
from prometheus_client import REGISTRY, generate_latest
from typer.testing import CliRunner

from jobs.cli import app
from pipelines.clock import FakeClock
from pipelines.records import Record, from_avro, to_avro, to_json_line
from pipelines.synthetic import synthetic_records
from tests.pii_canaries import canary_payment, leaks

pytestmark = pytest.mark.integration
KEYS = {"SHARDLINE_PII_HMAC_KEY": "1f" * 32, "SHARDLINE_PII_FPE_KEY": "2e" * 16}
EVENT_TIME = 1_700_000_000_000
runner = CliRunner()


def canary_record(record_id: str, **payload) -> Record:
    return Record(id=record_id, type="payment.created", source="leak-test", partition_key="acct-canary",
                  payload={**canary_payment(EVENT_TIME), **payload}, event_time=EVENT_TIME)


def read_stream(kinesis, name: str) -> list[bytes]:
    shard = kinesis.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return [r["Data"] for r in kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"]]


@pytest.fixture
def canary_stack(local_stack, monkeypatch):
    for key, value in KEYS.items():
        monkeypatch.setenv(key, value)
    suffix = uuid.uuid4().hex[:8]
    names = {"input": f"leak-in-{suffix}", "output": f"leak-out-{suffix}", "bucket": f"leak-{suffix}",
             "firehose": f"leak-fh-{suffix}"}
    kinesis, s3 = boto3.client("kinesis"), boto3.client("s3")
    for stream in (names["input"], names["output"]):
        kinesis.create_stream(StreamName=stream, ShardCount=1)
        kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    s3.create_bucket(Bucket=names["bucket"])
    boto3.client("firehose").create_delivery_stream(
        DeliveryStreamName=names["firehose"], DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={"RoleARN": "arn:aws:iam::123456789012:role/firehose",
                                            "BucketARN": f"arn:aws:s3:::{names['bucket']}", "Prefix": "search/"})
    return names, kinesis, s3


def test_no_canary_reaches_a_sink_a_log_or_a_metric(canary_stack, tmp_path, caplog, capfd):
    names, kinesis, s3 = canary_stack
    caplog.set_level(logging.DEBUG, logger="shardline")
    good = list(itertools.islice(synthetic_records("payments", seed=8, clock=FakeClock(EVENT_TIME / 1000)), 20))
    good += [canary_record("canary-1")]
    bad = [b"\x01no envelope: SSN 536-22-1234 card 4929123456789015 zebulon.canary@example.org",
           to_avro(canary_record("bad-utf8", ssn=b"\xff536-22-1234")),
           to_avro(Record(id="bad-json", type="t", source="leak-test", partition_key="acct-canary",
                          payload=b"ip=203.0.113.77 phone +1 415-555-0187 ext. 42", event_time=EVENT_TIME))]
    entries = [{"Data": to_avro(r), "PartitionKey": r.partition_key} for r in good]
    entries += [{"Data": data, "PartitionKey": "bad"} for data in bad]
    assert kinesis.put_records(StreamName=names["input"], Records=entries)["FailedRecordCount"] == 0

    bucket = names["bucket"]
    result = runner.invoke(app, ["pii", "run", "--stream", names["input"], "--policy", "payments",
                                 "--output-stream", names["output"], "--output-s3", f"s3://{bucket}/curated",
                                 "--firehose", names["firehose"], "--index", "payments",
                                 "--dead-letters", f"s3://{bucket}/dead-letters", "--count", str(len(entries)),
                                 "--idle-timeout", "10", "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    assert (stats["written"], stats["dead_lettered"]) == (len(good), len(bad))

    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join([to_json_line(canary_record("file-1")).encode(), b"\xff" + bad[0],
                                   to_json_line(canary_record("file-2")).encode()[:-9]]) + b"\n")
    dlq = tmp_path / "mask.dlq.jsonl"
    masked_file = tmp_path / "out.jsonl"
    mask = runner.invoke(app, ["pii", "mask", "--policy", "payments", "--input", str(source),
                               "--output", str(masked_file), "--dlq", str(dlq)])
    assert mask.exit_code == 2 and "2 line(s) could not be masked" in " ".join(mask.output.split())

    listing = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    objects = {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing}
    assert {key.split("/")[0] for key in objects} == {"curated", "search", "dead-letters"}
    masked_stream = read_stream(kinesis, names["output"])
    assert sorted(from_avro(data).id for data in masked_stream) == sorted(r.id for r in good)
    out, err = capfd.readouterr()
    blobs: dict[str, bytes | str] = {f"s3://{bucket}/{key}": body for key, body in objects.items()}
    blobs.update({f"stream[{i}]": data for i, data in enumerate(masked_stream)})
    blobs.update({"mask dead letters": dlq.read_bytes(), "masked file": masked_file.read_bytes(),
                  "cli output": result.output + mask.output, "log records": caplog.text,
                  "stdout": out, "stderr": err, "metrics": generate_latest(REGISTRY)})
    assert "event=pii_masked engine=local" in caplog.text
    assert b'shardline_pii_masked_values_total{entity="US_SSN"}' in blobs["metrics"]
    assert leaks({"input": b"".join(bad) + source.read_bytes()}), "the scanner must see canaries where they are"
    assert leaks(blobs) == []
