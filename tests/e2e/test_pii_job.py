"""The PII job (the SQL path) end to end on the local stack: the same masking as every engine, bad records to
the dead letters (masked, with their position), Kinesis, S3 and Firehose outputs written by Java.

Beside the bad records every engine refuses, two records that only Firehose cannot take: an id over
OpenSearch's 512 bytes, and a payload whose bulk entry is over Firehose's 1,000 KiB (control characters cost
one byte in Avro and six in JSON).  They reach the stream and S3, and the dead letters instead of Firehose.
And one record that masking makes too large for any output: 20,000 short emails in a note, each replaced by
a 64-character hash, so the 140 kB record would be 1.3 MB.  It reaches the dead letters with the reason every
engine gives, and the job carries on.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from connectors.aws import AwsConfig, client
from connectors.dead_letter import DeadLetter
from connectors.flink import build_connector_jar
from connectors.testing import create_stream, read_stream_data
from pipelines.engine import RecordPath
from pipelines.pii import builtin_policy
from pipelines.pii.pipeline import masking_pipeline
from connectors.sinks.opensearch import opensearch_bulk
from pipelines.records import Record, RecordValidationError, from_avro, read_avro_file, to_avro
from tests.pii_bad_unicode import full_width_leaks, kinesis_data
from tests.pii_canaries import leaks

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(400)]
REPO_ROOT = Path(__file__).resolve().parents[2]
KEYS = {"SHARDLINE_PII_HMAC_KEY": "5a" * 32, "SHARDLINE_PII_FPE_KEY": "c3" * 16}


@pytest.fixture(scope="module")
def run(local_stack, tmp_path_factory):
    from tests.e2e.test_pii_engines import input_records

    build_connector_jar()
    work = tmp_path_factory.mktemp("pii-sql")
    suffix = uuid.uuid4().hex[:8]
    source, output, bucket = f"sql-in-{suffix}", f"sql-out-{suffix}", f"sql-{suffix}"
    kinesis, s3 = client("kinesis", AwsConfig(sdk_retries=3)), client("s3", AwsConfig(sdk_retries=3))
    create_stream(kinesis, source, 2)
    create_stream(kinesis, output, 1)
    s3.create_bucket(Bucket=bucket)
    good, bad = input_records()
    reference = masking_pipeline(builtin_policy("payments", environ=KEYS))
    # Bad Unicode (tests/pii_bad_unicode.py): masked (full width, the largest record) or dead letters.
    unicode = kinesis_data(reference)
    good += [from_avro(unicode.pop(name)) for name in ("full_width", "largest")]
    bad += [unicode.pop(name) for name in ("surrogate_bytes", "surrogate_avro", "not_utf8_bytes", "not_utf8_avro")]
    too_big_for_firehose = [
        Record(id="l" * 600, type="payment.created", source="sql-test", partition_key="acct-long-id",
               payload={"note": "an id over OpenSearch's limit"}, event_time=1_700_000_000_000),
        Record(id="escapes", type="payment.created", source="sql-test", partition_key="acct-escapes",
               payload={"note": "\x01" * 200_000}, event_time=1_700_000_000_000)]
    good += too_big_for_firehose
    too_big_for_firehose.append(good[-3])  # the largest record: its bulk entry is over Firehose's limit too
    grows = Record(id="grows", type="payment.created", source="sql-test", partition_key="acct-grows",
                   payload={"notes": "Customer " + "a@b.io " * 20_000}, event_time=1_700_000_000_000)
    firehose = f"sql-search-{suffix}"
    client("firehose").create_delivery_stream(
        DeliveryStreamName=firehose, DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={"RoleARN": "arn:aws:iam::123456789012:role/firehose",
                                            "BucketARN": f"arn:aws:s3:::{bucket}", "Prefix": "search/"})
    entries = [{"Data": to_avro(r), "PartitionKey": r.partition_key} for r in good]
    entries += [{"Data": data, "PartitionKey": f"bad-{i}"} for i, data in enumerate(bad)]
    entries.append({"Data": to_avro(grows), "PartitionKey": grows.partition_key})
    entries.append({"Data": unicode["grows"], "PartitionKey": "acct-grows-1mib"})  # 1 MiB, over it once masked
    assert kinesis.put_records(StreamName=source, Records=entries)["FailedRecordCount"] == 0
    (work / "hmac.hex").write_text(KEYS["SHARDLINE_PII_HMAC_KEY"] + "\n")
    properties = work / "application_properties.json"
    properties.write_text(json.dumps([{"PropertyGroupId": "shardline", "PropertyMap": {
        "input.stream": source, "output.stream": output, "output.s3": f"s3://{bucket}/curated",
        "output.firehose": firehose, "output.firehose.index": "payments",
        "dead_letter.s3": f"s3://{bucket}/dead-letters", "source.bounded": "true",
        "checkpoint.interval.ms": "2000", "checkpoint.dir": str(work / "checkpoints"),
        "pii.policy": "payments", "pii.keys.hmac.file": str(work / "hmac.hex"),
        "pii.keys.fpe": KEYS["SHARDLINE_PII_FPE_KEY"]}}]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHARDLINE_PII_")}
    done = subprocess.run([sys.executable, "-m", "jobs.flink.pii_job", "--properties", str(properties)],
                          cwd=REPO_ROOT, env={**env, "FLINK_LOG_DIR": str(work / "logs")}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    objects = {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
               for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    return {"expected": {r.id: reference(r) for r in good}, "bad": bad, "objects": objects, "source": source,
            "not_for_firehose": [r.id for r in too_big_for_firehose], "grows": to_avro(grows),
            "stream": read_stream_data(kinesis, output), "log": done.stdout + done.stderr,
            "grows_1mib": unicode["grows"]}


def test_the_sql_job_writes_exactly_the_reference_masking_to_the_stream_and_s3(run):
    stream = {r.id: r for r in (from_avro(data) for data in run["stream"])}
    assert stream == run["expected"]
    curated = {r.id: r for key, body in run["objects"].items() if key.startswith("curated/")
               for r in read_avro_file(io.BytesIO(body))}
    assert curated == run["expected"]


def dead_letters(run) -> list[DeadLetter]:
    return [DeadLetter.from_json(line) for key, body in run["objects"].items() if key.startswith("dead-letters/")
            for line in body.splitlines() if line.strip()]


def test_firehose_gets_the_bulk_entries_every_engine_sends_and_nothing_it_would_refuse(run):
    delivered = b"".join(body for key, body in sorted(run["objects"].items()) if key.startswith("search/"))
    encode = opensearch_bulk("payments")
    expected = {encode(record) for id_, record in run["expected"].items() if id_ not in run["not_for_firehose"]}
    lines = delivered.splitlines(keepends=True)
    entries = [lines[i] + lines[i + 1] for i in range(0, len(lines), 2)]
    assert len(entries) == len(expected) and set(entries) == expected


def test_records_firehose_cannot_take_are_dead_letters_with_the_python_writer_s_reasons(run):
    refused = {from_avro(l.data).id: l for l in dead_letters(run) if l.error_type in
               ("SerializationException", "RecordTooLarge") and "firehose" in l.reason.lower()}
    assert sorted(refused) == sorted(run["not_for_firehose"])
    long_id, escapes, largest = (refused[i] for i in run["not_for_firehose"])
    assert largest.error_type == "RecordTooLarge" and largest.reason.endswith("bytes is over Firehose's 1024000")
    assert long_id.reason == ("firehose cannot encode the record: record id is longer than OpenSearch's 512-byte "
                              "_id limit")
    assert escapes.error_type == "RecordTooLarge" and escapes.reason.endswith("bytes is over Firehose's 1024000")
    assert escapes.source.startswith(f"kinesis:{run['source']}/shardId-")


def test_a_record_masking_makes_too_large_is_a_dead_letter_with_every_engine_s_reason(run):
    found = sorted((l for l in dead_letters(run) if l.error_type == "RecordTooLarge" and "Kinesis" in l.reason),
                   key=lambda l: from_avro(l.data).id)
    path = RecordPath(masking_pipeline(builtin_policy("payments", environ=KEYS)))
    expected = [path.from_bytes(run[name]) for name in ("grows", "grows_1mib")]
    assert [(l.error_type, l.reason) for l in found] == [(e.error_type, e.reason) for e in expected]
    assert found[0].reason.startswith("an output record is ")
    assert [from_avro(l.data).id for l in found] == ["grows", "grows-1mib"]


def test_bad_records_reach_the_dead_letters_masked_with_their_position_and_reason(run):
    found = [l for l in dead_letters(run) if l.error_type not in ("SerializationException", "RecordTooLarge")]
    assert len(found) == len(run["bad"])
    assert all(letter.data not in run["bad"] for letter in found), "masked, not stored as they came"
    assert all(letter.source.startswith(f"kinesis:{run['source']}/shardId-") for letter in found)

    # The reasons every engine gives for the same records (the record path, with the reference masking).
    path = RecordPath(masking_pipeline(builtin_policy("payments", environ=KEYS)))
    assert sorted((l.error_type, l.reason) for l in found) == sorted(
        (r.error_type, r.reason) for r in (path.from_bytes(data) for data in run["bad"]))
    assert sorted(from_avro(l.data).id for l in found if l.error_type == "MaskingError") == [
        "bad-json", "bad-utf8", "not-utf8-bytes", "surrogate-bytes"]
    # Bad Unicode: every letter is still an envelope, masked (an Avro string that is not UTF-8 too).
    assert {"surrogate-avro", "not-utf8-avro"} <= {envelope_id(l.data) for l in found}


def envelope_id(data: bytes) -> str | None:
    try:
        return from_avro(data).id
    except RecordValidationError:
        return None


def test_no_canary_leaks_from_the_pii_job(run):
    blobs = {f"s3://{k}": v for k, v in run["objects"].items()}
    blobs.update({f"stream[{i}]": data for i, data in enumerate(run["stream"])})
    blobs["log"] = run["log"]
    assert leaks(blobs) == []
    assert full_width_leaks(blobs) == []   # also the full-width card, read as NFKC text
