"""The PII masking pattern on all three engines: the same input, the same masked output, no leak anywhere.

One module-scoped run on kinesis-mock (the KCL daemon needs its HTTP/2; kinesalite
has none) + moto: the PyFlink job (``jobs.flink.pii_job``), the KCL daemon with
``jobs.kcl.pii_processor`` and the local runner (``jobs.local.pii.run_pii_stream``) read
the same input stream at once, each writing its own masked stream, S3 curated
prefix, dead letters and Firehose delivery stream (OpenSearch bulk form,
delivered to S3 by moto).  The Flink job gets its policy and keys from its
runtime properties only (a key file and a key value): its environment has no
SHARDLINE_PII_* variable.

The input: synthetic payments (with free-text notes), a record full of canary
PII, and three bad records that hold canaries too: bytes that are no envelope,
an envelope whose ``ssn`` is not UTF-8, and an envelope whose bytes payload is
not JSON.  The payments policy has no ``encrypt`` action, so every output is
deterministic and the engines' outputs can be compared exactly.
"""
from __future__ import annotations

import asyncio
import io
import itertools
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from connectors.aws import AwsConfig, client
from connectors.dead_letter import DeadLetter
from connectors.flink import build_connector_jar
from connectors.kcl import FAST_START_JVM_OPTIONS, KclConfig, python_processor, run_daemon
from connectors.testing import patched_environ, read_stream_data
from jobs.local.pii import PiiOutputs, run_pii_stream
from pipelines.clock import FakeClock
from pipelines.pii import builtin_policy
from pipelines.pii.pipeline import masking_pipeline
from pipelines.records import Record, from_avro, read_avro_file, to_avro
from pipelines.synthetic import synthetic_records
from tests.pii_canaries import canary_payment, leaks

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(300),
              pytest.mark.skipif(shutil.which("java") is None, reason="the KCL daemon and Flink need Java 11+")]

REPO_ROOT = Path(__file__).resolve().parents[2]
KEYS = {"SHARDLINE_PII_HMAC_KEY": "5a" * 32, "SHARDLINE_PII_FPE_KEY": "c3" * 16, "SHARDLINE_PII_POLICY": "payments"}
PAYMENTS = 40
EVENT_TIME = 1_700_000_000_000
ENGINES = ("flink", "kcl", "local")
DEADLINE_S = 150
GATEWAY_LOG4J = """rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FileAppender
appender.file.name = FileAppender
appender.file.type = FILE
appender.file.append = true
appender.file.fileName = ${sys:log.file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n
"""


def input_records() -> tuple[list[Record], list[bytes]]:
    """Good records (synthetic + canary) and the raw Kinesis data of three bad ones."""
    good = list(itertools.islice(synthetic_records("payments", seed=3, clock=FakeClock(EVENT_TIME / 1000)), PAYMENTS))
    good.append(Record(id="canary-1", type="payment.created", source="leak-test", partition_key="acct-canary",
                       payload=canary_payment(EVENT_TIME), event_time=EVENT_TIME))
    not_utf8 = Record(id="bad-utf8", type="payment.created", source="leak-test", partition_key="acct-bad",
                      payload={**canary_payment(EVENT_TIME), "ssn": b"\xff536-22-1234"}, event_time=EVENT_TIME)
    not_json = Record(id="bad-json", type="payment.created", source="leak-test", partition_key="acct-bad",
                      payload=b"ssn=536-22-1234 email=zebulon.canary@example.org card 4929123456789015",
                      event_time=EVENT_TIME)
    bad = [b"\x01not an envelope: SSN 536-22-1234, call +1 415-555-0187 ext. 42, from 203.0.113.77",
           to_avro(not_utf8), to_avro(not_json)]
    return good, bad




def s3_objects(s3, bucket: str, prefix: str = "") -> dict[str, bytes]:
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def curated(objects: dict[str, bytes]) -> list[Record]:
    return [r for body in objects.values() for r in read_avro_file(io.BytesIO(body))]


def letters(objects: dict[str, bytes]) -> list[DeadLetter]:
    return [DeadLetter.from_json(line) for body in objects.values() for line in body.splitlines() if line.strip()]


def bulk_documents(objects: dict[str, bytes]) -> list[tuple[dict, dict]]:
    lines = b"".join(objects.values()).decode("utf-8").splitlines()
    return [(json.loads(a), json.loads(d)) for a, d in zip(lines[::2], lines[1::2])]


@pytest.fixture(scope="module")
def run(kinesis_mock_stack, tmp_path_factory):
    build_connector_jar()  # outside the timed part (a cold Maven build is `make setup`'s)
    work = tmp_path_factory.mktemp("pii-engines")
    suffix = uuid.uuid4().hex[:8]
    stream, bucket = f"pii-in-{suffix}", f"pii-{suffix}"
    with patched_environ(KEYS):
        kinesis, s3 = client("kinesis", AwsConfig(sdk_retries=3)), client("s3", AwsConfig(sdk_retries=3))
        firehose = client("firehose")
        s3.create_bucket(Bucket=bucket)
        names = {"input": stream, **{e: f"pii-{e}-{suffix}" for e in ENGINES}}
        for name, shards in ((stream, 2), *((names[e], 1) for e in ENGINES)):
            kinesis.create_stream(StreamName=name, ShardCount=shards)
        for name in names.values():
            kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
        for engine in ENGINES:
            firehose.create_delivery_stream(
                DeliveryStreamName=f"pii-{engine}-{suffix}", DeliveryStreamType="DirectPut",
                ExtendedS3DestinationConfiguration={"RoleARN": "arn:aws:iam::123456789012:role/firehose",
                                                    "BucketARN": f"arn:aws:s3:::{bucket}",
                                                    "Prefix": f"{engine}/search/"})
        good, bad = input_records()
        entries = [{"Data": to_avro(r), "PartitionKey": r.partition_key} for r in good]
        entries += [{"Data": data, "PartitionKey": f"bad-{i}"} for i, data in enumerate(bad)]
        response = kinesis.put_records(StreamName=stream, Records=entries)
        assert response["FailedRecordCount"] == 0

        started = time.monotonic()
        outputs = {engine: PiiOutputs(output_stream=names[engine], output_s3=f"s3://{bucket}/{engine}/curated",
                                      firehose=f"pii-{engine}-{suffix}", opensearch_index="payments",
                                      dead_letters=f"s3://{bucket}/{engine}/dead-letters")
                   for engine in ("kcl", "local")}
        kcl = outputs["kcl"]
        daemon = run_daemon(KclConfig(
            stream_name=stream, application_name=f"pii-kcl-{suffix}", worker_id="pii-worker",
            executable=python_processor("jobs.kcl.pii_processor", "--output-stream", kcl.output_stream,
                                        "--output-s3", kcl.output_s3, "--firehose", kcl.firehose, "--index",
                                        "payments", "--dead-letters", kcl.dead_letters),
            idle_time_between_reads_ms=200, failover_time_ms=3000, lease_assignment_interval_ms=1000,
            shard_sync_interval_ms=5000, shutdown_grace_ms=5000, jvm_options=FAST_START_JVM_OPTIONS),
            work, log_path=work / "kcl.log")

        properties = work / "application_properties.json"
        (work / "hmac.hex").write_text(KEYS["SHARDLINE_PII_HMAC_KEY"] + "\n")
        properties.write_text(json.dumps([
            {"PropertyGroupId": "shardline", "PropertyMap": {
                "input.stream": stream, "output.stream": names["flink"], "output.s3": f"s3://{bucket}/flink/curated",
                "output.firehose": f"pii-flink-{suffix}", "output.firehose.index": "payments",
                "dead_letter.s3": f"s3://{bucket}/flink/dead-letters", "source.bounded": "true",
                "checkpoint.interval.ms": "2000", "checkpoint.dir": str(work / "checkpoints"),
                "s3.batch.records": "100", "python.bundle.time.ms": "100",
                "pii.policy": "payments", "pii.keys.hmac.file": str(work / "hmac.hex"),
                "pii.keys.fpe": KEYS["SHARDLINE_PII_FPE_KEY"], "pii.totals.interval-s": "0"}}]))
        flink_log = open(work / "flink.log", "wb")
        # The gateway JVM's log (where the Python workers' log lines end up too) goes to this run's folder, with
        # a log4j configuration that appends: PyFlink's own (log4j-cli.properties) truncates the file whenever a
        # JVM opens it and reloads itself every 30 s, and one CI run read that log empty after a job that passed.
        (work / "log4j-append.properties").write_text(GATEWAY_LOG4J)
        flink_env = {k: v for k, v in os.environ.items() if not k.startswith("SHARDLINE_PII_")}
        flink = subprocess.Popen([sys.executable, "-m", "jobs.flink.pii_job", "--properties", str(properties)],
                                 cwd=REPO_ROOT, env={**flink_env, "FLINK_LOG_DIR": str(work / "flink-logs"),
                                                     "LOG4J_PROPERTIES": str(work / "log4j-append.properties")},
                                 stdout=flink_log, stderr=subprocess.STDOUT)
        try:
            # The local runner, in this process, while the other two start; its log lines are captured.
            captured = io.StringIO()
            handler = logging.StreamHandler(captured)
            root = logging.getLogger()
            old_level = root.level
            root.addHandler(handler)
            root.setLevel(logging.INFO)
            registry = CollectorRegistry()
            try:
                stats = asyncio.run(run_pii_stream(stream, outputs["local"], builtin_policy("payments"),
                                                   count=len(good) + len(bad), idle_timeout_s=30, registry=registry))
                assert (stats.written, stats.dead_lettered) == (len(good), len(bad)), stats.as_dict()
            finally:
                root.removeHandler(handler)
                root.setLevel(old_level)
            local_s = time.monotonic() - started

            returncode = flink.wait(timeout=DEADLINE_S)
            flink_s = time.monotonic() - started
            assert returncode == 0, (work / "flink.log").read_text(errors="replace")[-6000:]

            def kcl_done() -> bool:
                return len(read_stream_data(kinesis, names["kcl"])) >= len(good) and \
                    len(letters(s3_objects(s3, bucket, "kcl/dead-letters/"))) >= len(bad)
            while not kcl_done():
                assert daemon.running(), (work / "kcl.log").read_text(errors="replace")[-6000:]
                assert time.monotonic() - started < DEADLINE_S, "the KCL daemon did not deliver every record in time"
                time.sleep(0.5)
            kcl_s = time.monotonic() - started
        finally:
            if flink.poll() is None:
                flink.kill()
                flink.wait()
            flink_log.close()
            daemon.stop()
        sys.stderr.write(f"\nPII engines: local runner {local_s:.1f}s, flink {flink_s:.1f}s, kcl {kcl_s:.1f}s "
                         f"(from the first start)\n")
        reference = masking_pipeline(builtin_policy("payments"))
        expected = {r.id: reference(r) for r in good}
        objects = s3_objects(s3, bucket)
        streams = {engine: read_stream_data(kinesis, names[engine]) for engine in ENGINES}
    return {"expected": expected, "bad": bad, "objects": objects, "streams": streams, "work": work,
            "local_log": captured.getvalue(), "metrics": generate_latest(registry), "totals": reference.totals}


def by_id(records: list[Record]) -> dict[str, Record]:
    out: dict[str, Record] = {}
    for record in records:
        assert out.get(record.id, record) == record, f"{record.id} written twice, differently"
        out[record.id] = record
    return out


@pytest.mark.parametrize("engine", ENGINES)
def test_each_engine_writes_exactly_the_reference_masking_to_its_stream_and_s3(run, engine):
    expected = run["expected"]
    stream = by_id([from_avro(data) for data in run["streams"][engine]])
    assert stream == expected
    prefix = f"{engine}/curated/"
    assert by_id(curated({k: v for k, v in run["objects"].items() if k.startswith(prefix)})) == expected


def test_the_three_engines_agree_record_by_record(run):
    outputs = {engine: by_id([from_avro(data) for data in run["streams"][engine]]) for engine in ENGINES}
    assert outputs["flink"].keys() == outputs["kcl"].keys() == outputs["local"].keys() == run["expected"].keys()
    for record_id in run["expected"]:
        assert outputs["flink"][record_id] == outputs["kcl"][record_id] == outputs["local"][record_id], record_id
    canary = outputs["local"]["canary-1"].payload
    assert canary["country"] == "US" and canary["purchase_value"] == 12.5  # kept fields untouched


@pytest.mark.parametrize("engine", ENGINES)
def test_firehose_delivers_opensearch_bulk_lines_of_the_masked_records(run, engine):
    objects = {k: v for k, v in run["objects"].items() if k.startswith(f"{engine}/search/")}
    assert objects and all(body.endswith(b"\n") for body in objects.values())
    pairs = bulk_documents(objects)
    assert {a["index"]["_id"] for a, _ in pairs} == set(run["expected"])
    for action, document in pairs:
        assert action == {"index": {"_index": "payments", "_id": document["id"]}}
        assert document["payload"] == run["expected"][document["id"]].payload


def bulk_entries(objects: dict[str, bytes]) -> dict[str, bytes]:
    """Each record's bulk entry (action line + document line, as bytes) by record id."""
    lines = b"".join(objects.values()).splitlines(keepends=True)
    out: dict[str, bytes] = {}
    for action, document in zip(lines[::2], lines[1::2]):
        record_id = json.loads(action)["index"]["_id"]
        assert out.get(record_id, action + document) == action + document, f"{record_id} sent twice, differently"
        out[record_id] = action + document
    return out


def test_the_three_engines_send_firehose_the_same_bytes_record_for_record(run):
    entries = {engine: bulk_entries({k: v for k, v in run["objects"].items() if k.startswith(f"{engine}/search/")})
               for engine in ENGINES}
    assert entries["flink"].keys() == entries["kcl"].keys() == entries["local"].keys() == run["expected"].keys()
    for record_id in run["expected"]:
        assert entries["flink"][record_id] == entries["kcl"][record_id] == entries["local"][record_id], record_id


def flink_logs_listing(work: Path) -> str:
    """What a failed look at the Flink logs saw: each file and its size, and the job's own output's tail."""
    files = ", ".join(f"{path.name} ({path.stat().st_size} bytes)" for path in sorted((work / "flink-logs").iterdir()))
    return f"flink-logs: {files or 'none'}; job output: {(work / 'flink.log').read_text(errors='replace')[-2000:]}"


def test_the_flink_worker_counts_what_it_masked_by_entity_type(run):
    # pii.totals.interval-s=0: the (single) worker logs its running totals after every record; the
    # counts are those its Flink counters get (tests/unit/test_flink_pii_properties.py).
    logs = b"".join(path.read_bytes() for path in (run["work"] / "flink-logs").iterdir()).decode(errors="replace")
    assert "event=pii_masked engine=flink" in logs, flink_logs_listing(run["work"])
    totals = []
    for line in logs.splitlines():
        if "event=pii_masked engine=flink" in line:
            values = line.split("values=")[1].split()[0]
            totals.append((int(line.split("records=")[1].split()[0]),
                           {e: int(n) for e, _, n in (item.partition(":") for item in values.split(","))}))
    assert max(totals, key=lambda t: t[0]) == (len(run["expected"]), run["totals"])


@pytest.mark.parametrize("engine", ENGINES)
def test_bad_records_reach_each_engines_dead_letters_masked(run, engine):
    found = letters({k: v for k, v in run["objects"].items() if k.startswith(f"{engine}/dead-letters/")})
    assert len(found) == len(run["bad"])
    assert all(letter.data not in run["bad"] for letter in found)  # masked, not stored as they came
    envelopes = sorted(from_avro(letter.data).id for letter in found if letter.data[:1] != b"\x01")
    assert envelopes == ["bad-json", "bad-utf8"]  # still envelopes: redrive can put them back


def test_no_canary_leaks_into_any_sink_log_or_metric(run):
    blobs: dict[str, bytes | str] = {f"s3://{key}": body for key, body in run["objects"].items()}
    for engine, records in run["streams"].items():
        blobs.update({f"stream:{engine}[{i}]": data for i, data in enumerate(records)})
    blobs["log:local-runner"] = run["local_log"]
    blobs["log:flink"] = (run["work"] / "flink.log").read_bytes()
    blobs["log:kcl"] = (run["work"] / "kcl.log").read_bytes()
    flink_logs = {f"log:{path.name}": path.read_bytes() for path in (run["work"] / "flink-logs").iterdir()}
    assert any(b"shardline-pii" in body for body in flink_logs.values()), flink_logs_listing(run["work"])
    blobs.update(flink_logs)
    blobs["metrics:local-runner"] = run["metrics"]
    assert b"shardline_pii_masked_values_total" in run["metrics"]
    assert run["local_log"] and blobs["log:kcl"]
    assert leaks({"input": b"".join(run["bad"])}), "the scanner must see the canaries where they are"
    assert leaks(blobs) == []
    keys = [KEYS["SHARDLINE_PII_HMAC_KEY"].encode(), KEYS["SHARDLINE_PII_FPE_KEY"].encode()]
    assert [name for name, body in blobs.items() if name.startswith("log:")
            and any(key in (body if isinstance(body, bytes) else body.encode()) for key in keys)] == []
