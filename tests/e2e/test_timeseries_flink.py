"""The time-series Flink job end to end on the local stack, against the local runner on the same records.

The windows in DynamoDB, the alerts on the alert stream, the clean readings in S3 and the dead letters'
reasons are those of the Python pattern (``TimeseriesPattern``), record for record; only the order differs.
The job runs twice: with a raw store (every reading through the Python check, for its raw payload) and
without (``plain``: readings the Java side proves plain skip Python; the rest, ISO times among them, take it).
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
from connectors.timeseries_store import create_table, query_series
from pipelines.timeseries.synthetic import telemetry_envelope
from pipelines.clock import FakeClock
from pipelines.engine import Rejected
from pipelines.records import from_avro, read_avro_file, to_avro
from pipelines.timeseries.config import TimeseriesConfig
from pipelines.timeseries.outputs import anomaly_record, reading_record
from pipelines.timeseries.pattern import Anomaly, EnrichedReading, TimeseriesPattern
from pipelines.timeseries.synthetic import TelemetryConfig, generate
from pipelines.timeseries.windows import WindowAggregate

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(400)]
REPO_ROOT = Path(__file__).resolve().parents[2]
START_MS = 1_767_225_600_000
SETTINGS = {"window_s": 30, "detector_min_history": 10}
BAD = [{"device_id": "device-0001", "metric": "temperature", "value": "warm", "event_time": START_MS + 5},
       {"device_id": "device-0001", "value": 20.0, "event_time": START_MS + 6},
       {"device_id": "device-0002", "metric": "humidity", "value": 40.0, "event_time": "9999-01-01T00:00:00Z"},
       {"device_id": "device-0002", "metric": "humidity", "value": None, "event_time": START_MS + 7}]


# Good readings that only Python reads (ISO times): on the plain path they take the Python branch.
ISO = [{"device_id": "device-0003", "metric": "temperature", "value": 21.25, "event_time": "2026-01-01T00:00:09.5Z"},
       {"device_id": "device-0000", "metric": "humidity", "value": 48.0, "event_time": "2026-01-01T00:00:11+00:00"}]


def rows() -> list[dict]:
    config = TelemetryConfig(devices=4, metrics=("temperature", "humidity"), rate_per_s=20, anomaly_rate=0.01,
                             duplicate_rate=0.01, jitter_s=0.5, seed=21)
    good = [payload for payload, _ in generate(config, 2400, START_MS)]
    return good[:100] + BAD + ISO + good[100:]


def python_outputs(payloads: list[dict]):
    # Per device, in order, as each shard's reader sees them: series never span devices.
    pattern = TimeseriesPattern(TimeseriesConfig(**SETTINGS), clock=FakeClock(START_MS / 1000 + 86_400))
    return [o for p in payloads for o in pattern.on_payload(p)] + pattern.finish()


@pytest.fixture(scope="module", params=["raw-store", "plain"])
def run(request, local_stack, tmp_path_factory):
    build_connector_jar()
    work = tmp_path_factory.mktemp("ts-flink")
    suffix = uuid.uuid4().hex[:8]
    source, alerts, bucket, table = f"ts-in-{suffix}", f"ts-alerts-{suffix}", f"ts-{suffix}", f"ts-win-{suffix}"
    kinesis, s3 = client("kinesis", AwsConfig(sdk_retries=3)), client("s3", AwsConfig(sdk_retries=3))
    dynamodb = client("dynamodb")
    create_stream(kinesis, source, 1)
    create_stream(kinesis, alerts, 1)
    s3.create_bucket(Bucket=bucket)
    create_table(dynamodb, table)
    payloads = rows()
    entries = [{"Data": to_avro(telemetry_envelope(p, n, 21)), "PartitionKey": p["device_id"]}
               for n, p in enumerate(payloads, start=1)]
    entries.append({"Data": b"not an envelope", "PartitionKey": "bad"})
    for start in range(0, len(entries), 500):
        assert kinesis.put_records(StreamName=source, Records=entries[start:start + 500])["FailedRecordCount"] == 0
    properties = work / "application_properties.json"
    properties.write_text(json.dumps([{"PropertyGroupId": "shardline", "PropertyMap": {
        "input.stream": source, "aggregate.table": table, "alert.stream": alerts,
        **({"raw.s3": f"s3://{bucket}/raw"} if request.param == "raw-store" else {}),
        "dead_letter.s3": f"s3://{bucket}/dead-letters",
        "source.bounded": "true", "checkpoint.interval.ms": "2000", "checkpoint.dir": str(work / "checkpoints"),
        **{f"ts.{key}": str(value) for key, value in SETTINGS.items()}}}]))
    done = subprocess.run([sys.executable, "-m", "jobs.flink.timeseries_job", "--properties", str(properties)],
                          cwd=REPO_ROOT, env={**os.environ, "FLINK_LOG_DIR": str(work / "logs")},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    objects = {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
               for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    expected = python_outputs(payloads)
    windows = {}
    for series in {o.series for o in expected if isinstance(o, WindowAggregate)}:
        for item in query_series(dynamodb, table, series, 0, 2**62):
            windows[(item["series"], item["window_start"])] = item
    return {"expected": expected, "windows": windows, "objects": objects, "raw_store": request.param == "raw-store",
            "alerts": [from_avro(data) for data in read_stream_data(kinesis, alerts)], "log": done.stdout + done.stderr}


def test_the_windows_in_dynamodb_are_the_python_pattern_s_bit_for_bit(run):
    expected = {(o.series, o.window_start): o for o in run["expected"] if isinstance(o, WindowAggregate)}
    assert set(run["windows"]) == set(expected) and len(expected) > 30
    for key, window in expected.items():
        item = run["windows"][key]
        assert (item["window_end"], item["count"], item["min"], item["max"], item["mean"], item["p95"]) == (
            window.window_end, window.count, window.min, window.max, window.mean, window.p95), key
        assert (item["device_id"], item["metric"]) == tuple(window.series.split("/", 1))


def test_the_alerts_are_the_python_pattern_s_record_for_record(run):
    expected = {r.id: r for r in (anomaly_record(o) for o in run["expected"] if isinstance(o, Anomaly))}
    assert {r.id: r for r in run["alerts"]} == expected and len(expected) > 5


def test_clean_readings_reach_the_raw_prefix_as_every_engine_writes_them(run):
    if not run["raw_store"]:
        pytest.skip("no raw store in this run")
    raw = {r.id: r for key, body in run["objects"].items() if key.startswith("raw/")
           for r in read_avro_file(io.BytesIO(body))}
    expected = {r.id: r for r in (reading_record(o) for o in run["expected"] if isinstance(o, EnrichedReading))}
    assert raw == expected


def test_records_that_are_no_reading_are_dead_letters_with_the_reasons_every_engine_gives(run):
    letters = [DeadLetter.from_json(line) for key, body in run["objects"].items() if key.startswith("dead-letters/")
               for line in body.splitlines() if line.strip()]
    expected = sorted(o.reason for o in run["expected"] if isinstance(o, Rejected))
    assert sorted(letter.reason for letter in letters if letter.error_type == "ReadingError") == expected
    assert [letter.error_type for letter in letters if letter.data == b"not an envelope"] == ["RecordValidationError"]
    assert all(letter.source.startswith("kinesis:ts-in-") for letter in letters)
