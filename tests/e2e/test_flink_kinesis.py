"""The PyFlink passthrough job end to end on the local stack: kinesalite in, kinesalite + S3 (moto) out.

One bounded job run for the whole module (PyFlink start-up alone takes ~10 s on 2 cores).  The input
holds plain envelope records, one KPL aggregate (de-aggregated by the Java source) and one record
that is not an envelope (it must reach the dead letters, not vanish).
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from connectors.aws import AwsConfig, client
from connectors.dead_letter import DeadLetter
from connectors.flink import build_connector_jar
from connectors.kinesis.aggregation import UserRecord, aggregate
from connectors.testing import create_stream, read_stream_data
from pipelines.records import Record, from_avro, read_avro_file, to_avro

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(420)]

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAIN_RECORDS = 120
AGGREGATED_RECORDS = 7
JOB_TIMEOUT_S = 300


def _records(count: int, source: str) -> list[Record]:
    return [Record(type="test.event", source=source, partition_key=f"key-{i % 13}",
                   payload={"n": i}, event_time=1_700_000_000_000 + i * 1000) for i in range(count)]




def _objects(s3, bucket: str, prefix: str) -> dict[str, bytes]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing}


@pytest.fixture(scope="module")
def job_run(local_stack, tmp_path_factory):
    build_connector_jar()  # outside the timed run: a cold Maven build is its own step (`make setup`)
    suffix = uuid.uuid4().hex[:8]
    names = {"input": f"flink-in-{suffix}", "output": f"flink-out-{suffix}", "bucket": f"flink-{suffix}"}
    # Retries: the emulators close idle keep-alive connections while the job runs.
    kinesis, s3 = client("kinesis", AwsConfig(sdk_retries=3)), client("s3", AwsConfig(sdk_retries=3))
    create_stream(kinesis, names["input"], shards=2)
    create_stream(kinesis, names["output"], shards=1)
    s3.create_bucket(Bucket=names["bucket"])

    plain = _records(PLAIN_RECORDS, "plain")
    kinesis.put_records(StreamName=names["input"], Records=[
        {"Data": to_avro(r), "PartitionKey": r.partition_key} for r in plain])
    packed = _records(AGGREGATED_RECORDS, "kpl")
    kinesis.put_record(StreamName=names["input"], PartitionKey="kpl",
                       Data=aggregate([UserRecord(r.partition_key, to_avro(r)) for r in packed]))
    bad = kinesis.put_record(StreamName=names["input"], PartitionKey="bad", Data=b"\x01not an envelope")

    work = tmp_path_factory.mktemp("flink-job")
    properties = work / "application_properties.json"
    properties.write_text(json.dumps([{"PropertyGroupId": "shardline", "PropertyMap": {
        "input.stream": names["input"], "output.stream": names["output"],
        "output.s3": f"s3://{names['bucket']}/records", "source.bounded": "true",
        "checkpoint.interval.ms": "2000", "checkpoint.dir": str(work / "checkpoints"),
        "s3.batch.records": "50"}}]))
    env = {**os.environ, "SHARDLINE_APPLICATION_PROPERTIES": str(properties)}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "jobs.flink.pipeline_job"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=JOB_TIMEOUT_S)
    elapsed = time.monotonic() - started
    sys.stderr.write(f"flink passthrough job run took {elapsed:.1f}s\n")
    assert result.returncode == 0, result.stderr[-6000:]
    return {"names": names, "expected": plain + packed, "kinesis": kinesis, "s3": s3, "stderr": result.stderr,
            "bad_position": f"{names['input']}/{bad['ShardId']}/{bad['SequenceNumber']}"}


def test_every_record_reaches_the_output_stream(job_run):
    received = [from_avro(data) for data in read_stream_data(job_run["kinesis"], job_run["names"]["output"])]
    assert sorted(r.id for r in received) == sorted(r.id for r in job_run["expected"])
    by_id = {r.id: r for r in job_run["expected"]}
    assert all(r == by_id[r.id] for r in received)


def test_every_record_reaches_s3_under_hour_partitions(job_run):
    objects = _objects(job_run["s3"], job_run["names"]["bucket"], "records/")
    ids = []
    for key, body in objects.items():
        records = list(read_avro_file(io.BytesIO(body)))
        partitions = {f"dt={time.strftime('%Y-%m-%d', time.gmtime(r.event_time / 1000))}/"
                      f"hour={time.strftime('%H', time.gmtime(r.event_time / 1000))}" for r in records}
        assert partitions == {key.split("/", 1)[1].rsplit("/", 1)[0]}, key
        ids.extend(r.id for r in records)
    assert sorted(ids) == sorted(r.id for r in job_run["expected"])


def test_a_record_that_is_not_an_envelope_becomes_a_dead_letter(job_run):
    objects = _objects(job_run["s3"], job_run["names"]["bucket"], "dead-letters/")
    letters = [DeadLetter.from_json(line) for body in objects.values() for line in body.splitlines()]
    assert [(l.error_type, l.data, l.source) for l in letters] == [
        ("RecordValidationError", b"\x01not an envelope", f"kinesis:{job_run['bad_position']}")]
    assert "not an envelope" not in letters[0].reason  # the reason never quotes the record
