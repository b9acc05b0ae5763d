"""The PII job's Managed Flink zip on a real standalone cluster: submitted with ``flink run``, its
TaskManager killed mid-stream, restored from the latest checkpoint.

What a deployed application does, short of the service: the zip that ``shardline package flink --job pii``
builds is unpacked and its ``main.py`` submitted with ``lib/``'s jar and ``dep/`` (``flink run -py main.py
-j lib/... -pyfs dep``) to a JobManager and TaskManager started from the apache-flink wheel's ``bin/``.  The
client and the Python workers run a clean CPython 3.12 that has only ``apache-flink`` installed, as the
service's runtime does: everything else the job imports must come from the zip's ``dep/``.  While
payments flow in, once a checkpoint has completed and records are coming out, the TaskManager (and its Python
workers) is SIGKILLed and another one started.  Then:

- every produced record is on the output stream and in S3, masked exactly as the reference masks it;
- a record written twice was first written between the last checkpoint before the crash and the crash
  (read after that checkpoint's barrier, so replayed), and is counted;
- the dead letters are a clean run's: the same records, reasons and positions.
"""
from __future__ import annotations

import dataclasses
import io
import itertools
import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from connectors.aws import AwsConfig, client
from connectors.dead_letter import DeadLetter
from connectors.flink import build_connector_jar
from connectors.testing import create_stream, read_stream_data, read_stream_records
from flink_standalone import StandaloneFlink, rest, restored_checkpoint, submit, wait_until
from jobs.packaging.flink import build_managed_flink_zip
from pipelines.engine import RecordPath
from pipelines.pii import builtin_policy
from pipelines.pii.pipeline import masking_pipeline
from pipelines.records import from_avro, read_avro_file, to_avro
from pipelines.synthetic import synthetic_records

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600),
              pytest.mark.skipif(shutil.which("java") is None, reason="Flink needs Java 11+")]

KEYS = {"SHARDLINE_PII_HMAC_KEY": "5a" * 32, "SHARDLINE_PII_FPE_KEY": "c3" * 16}
RECORDS, RATE = 5_000, 250.0  # about 20 s of input: the crash lands in the middle of it
# Long enough that the output stream's sink sends batches (500 records) between two checkpoints, so the
# records replayed after the crash include some already written: the duplicates the test counts.
CHECKPOINT_MS = 5_000
KILL_AFTER_CHECKPOINT_S = 3.0


def runtime_interpreter(work) -> str:
    """A CPython venv with apache-flink (this one's version) and nothing else: Managed Flink's runtime."""
    import pyflink.version

    venv = work / "runtime"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                    f"apache-flink=={pyflink.version.__version__}"], check=True, capture_output=True, timeout=600)
    return str(venv / "bin" / "python")




class Producer(threading.Thread):
    """Puts the good records on the stream at a steady rate, with event_time the time each is put."""

    def __init__(self, kinesis, stream: str, records) -> None:
        super().__init__(daemon=True)
        self.kinesis, self.stream, self.records, self.sent, self.error = kinesis, stream, records, [], None

    def run(self) -> None:
        try:
            batch, started = 50, time.monotonic()
            for start in range(0, len(self.records), batch):
                now_ms = int(time.time() * 1000)
                chunk = [dataclasses.replace(r, event_time=now_ms) for r in self.records[start:start + batch]]
                entries = [{"Data": to_avro(r), "PartitionKey": r.partition_key} for r in chunk]
                assert self.kinesis.put_records(StreamName=self.stream, Records=entries)["FailedRecordCount"] == 0
                self.sent.extend(chunk)
                time.sleep(max(0.0, started + (start + batch) / RATE - time.monotonic()))
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


@pytest.fixture(scope="module")
def crash(local_stack, tmp_path_factory):
    from tests.e2e.test_pii_engines import input_records

    work = tmp_path_factory.mktemp("pii-cluster")
    # The runtime's interpreter installs (half a minute) while the jar, the streams and the cluster start.
    installing = ThreadPoolExecutor(max_workers=1)
    runtime = installing.submit(runtime_interpreter, work)
    installing.shutdown(wait=False)
    jar = build_connector_jar()
    package = build_managed_flink_zip("pii", work / "pii.zip", jar=jar)
    app = work / "app"
    zipfile.ZipFile(package).extractall(app)
    suffix = uuid.uuid4().hex[:8]
    source, output, bucket = f"crash-in-{suffix}", f"crash-out-{suffix}", f"crash-{suffix}"
    kinesis, s3 = client("kinesis", AwsConfig(sdk_retries=3)), client("s3", AwsConfig(sdk_retries=3))
    create_stream(kinesis, source, 2)
    create_stream(kinesis, output, 1)
    s3.create_bucket(Bucket=bucket)
    _, bad = input_records()
    assert kinesis.put_records(StreamName=source, Records=[
        {"Data": data, "PartitionKey": f"bad-{i}"} for i, data in enumerate(bad)])["FailedRecordCount"] == 0
    for name, key in (("hmac", KEYS["SHARDLINE_PII_HMAC_KEY"]), ("fpe", KEYS["SHARDLINE_PII_FPE_KEY"])):
        (work / f"{name}.hex").write_text(key + "\n")
    properties = work / "application_properties.json"
    properties.write_text(json.dumps([{"PropertyGroupId": "shardline", "PropertyMap": {
        "input.stream": source, "output.stream": output, "output.s3": f"s3://{bucket}/curated",
        "dead_letter.s3": f"s3://{bucket}/dead-letters", "source.init.position": "TRIM_HORIZON",
        "checkpoint.interval.ms": str(CHECKPOINT_MS), "checkpoint.dir": str(work / "checkpoints"),
        "pii.policy": "payments", "pii.keys.hmac.file": str(work / "hmac.hex"),
        "pii.keys.fpe.file": str(work / "fpe.hex")}}]))

    cluster = StandaloneFlink(work / "flink", slots=2).start()
    try:
        job_id = submit(cluster, app, properties, runtime.result())

        good = [dataclasses.replace(r, id=f"{r.id}-{i}") for i, r in enumerate(itertools.islice(
            synthetic_records("payments", seed=5), RECORDS))]
        producer = Producer(kinesis, source, good)
        produce_started_ms = time.time() * 1000
        producer.start()

        def checkpointed_with_output():
            latest = rest(cluster, f"/jobs/{job_id}/checkpoints")["latest"]["completed"]
            if latest and latest["trigger_timestamp"] > produce_started_ms + 2_000 \
                    and len(read_stream_data(kinesis, output)) >= 500:
                return latest
            return None
        checkpoint = wait_until(checkpointed_with_output, 120, "for a checkpoint and output", cluster)
        time.sleep(KILL_AFTER_CHECKPOINT_S)
        killed_ms = time.time() * 1000
        cluster.kill_taskmanager()
        cluster.start_taskmanager()
        producer.join(timeout=120)
        assert producer.error is None and len(producer.sent) == RECORDS, producer.error

        expected_ids = {r.id for r in producer.sent}

        def everything_out():
            # And the job restored (see wait_for_restore): it may have written every record before it failed over.
            restored = restored_checkpoint(cluster, job_id)
            if restored is None:
                return None
            listed = [o for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                      for o in page.get("Contents", [])]
            objects = {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}
            written = {o["Key"]: o["LastModified"].timestamp() * 1000 for o in listed}
            arrived = read_stream_records(kinesis, output)
            stream = [from_avro(r["Data"]) for r in arrived]
            curated_written = [(r, written[key]) for key, body in objects.items() if key.startswith("curated/")
                               for r in read_avro_file(io.BytesIO(body))]
            curated = [r for r, _ in curated_written]
            # The dead letters too: at a checkpoint each sink puts its objects in turn (curated, then letters,
            # about 100 ms apart here), so when the letters are in the last checkpoint's objects (a job slow to
            # start reads the bad records after the checkpoint it is restored from) a listing can fall between.
            # A CI run listed every good record and no letter.
            if expected_ids <= {r.id for r in stream} and expected_ids <= {r.id for r in curated} \
                    and len(dead_letters(objects)) >= len(bad):
                first_written = {
                    "stream": first_times(zip(stream, (r["ApproximateArrivalTimestamp"].timestamp() * 1000
                                                       for r in arrived))),
                    "curated": first_times(curated_written)}
                return objects, stream, curated, first_written, restored
            return None
        objects, stream, curated, first_written, restored = wait_until(
            everything_out, 240, "for the job's restore and every record to come out", cluster)
        rest(cluster, f"/jobs/{job_id}?mode=cancel", method="PATCH")
    finally:
        cluster.stop()
    reference = masking_pipeline(builtin_policy("payments", environ=KEYS))
    return {"sent": producer.sent, "expected": {r.id: reference(r) for r in producer.sent}, "bad": bad,
            "stream": stream, "curated": curated, "objects": objects, "source": source, "restored": restored,
            "checkpoint": checkpoint, "killed_ms": killed_ms, "first_written": first_written}


def dead_letters(objects: dict[str, bytes]) -> list[DeadLetter]:
    """The dead letters in the S3 objects (key -> body) under ``dead-letters/``, one JSON letter a line."""
    return [DeadLetter.from_json(line) for key, body in objects.items() if key.startswith("dead-letters/")
            for line in body.splitlines() if line.strip()]


def first_times(written) -> dict[str, float]:
    """When each record id was first written (epoch ms), from (record, time written) pairs."""
    first: dict[str, float] = {}
    for record, at_ms in written:
        first[record.id] = min(at_ms, first.get(record.id, at_ms))
    return first


def test_the_job_was_restored_from_a_checkpoint_taken_before_the_crash(crash):
    assert crash["restored"] is not None
    assert crash["restored"]["id"] >= crash["checkpoint"]["id"]


@pytest.mark.parametrize("output", ["stream", "curated"])
def test_no_record_is_lost_and_each_is_masked_as_the_reference_masks_it(crash, output):
    by_id = {}
    for record in crash[output]:
        assert by_id.setdefault(record.id, record) == record, f"{record.id} written twice, differently"
    assert by_id == crash["expected"]


@pytest.mark.parametrize("output", ["stream", "curated"])
def test_duplicates_are_only_records_read_after_the_last_checkpoint_before_the_crash(crash, output):
    copies = Counter(record.id for record in crash[output])
    duplicated = {id_ for id_, n in copies.items() if n > 1}
    sys.stderr.write(f"\n{output}: {sum(copies.values()) - len(copies)} duplicates of {len(copies)} records\n")
    # A record read after that checkpoint's barrier was first written after its trigger and, to be written
    # twice, before the crash. The time it was written, not produced: a job that lags reads records late.
    # The slack covers the clocks' grain (S3's LastModified is in seconds) and a request in flight at the kill.
    slack_ms, first_written = 2_000, crash["first_written"][output]
    early, late = crash["checkpoint"]["trigger_timestamp"] - slack_ms, crash["killed_ms"] + slack_ms
    outside = sorted(first_written[id_] for id_ in duplicated if not early <= first_written[id_] <= late)
    assert not outside, (f"{len(outside)} duplicates first written outside [{early}, {late}]", outside[:5])


def test_the_dead_letters_are_a_clean_run_s(crash):
    found = {(l.source, l.error_type, l.reason) for l in dead_letters(crash["objects"])}
    path = RecordPath(masking_pipeline(builtin_policy("payments", environ=KEYS)))
    expected = sorted((r.error_type, r.reason) for r in (path.from_bytes(data) for data in crash["bad"]))
    assert sorted((error_type, reason) for _, error_type, reason in found) == expected
    assert all(source.startswith(f"kinesis:{crash['source']}/shardId-") for source, _, _ in found)
