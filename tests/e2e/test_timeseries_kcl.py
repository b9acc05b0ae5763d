"""The time-series KCL processor under the real KCL daemon: two workers, one killed mid-run.

The aggregates in DynamoDB must equal those of the pattern run over the same records without a crash: the
dead worker's windows come back from its last snapshot (S3) on the worker that takes its shards.
"""
from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from connectors.aws import client
from connectors.kcl import FAST_START_JVM_OPTIONS, KclConfig, python_processor, run_daemon
from connectors.timeseries_store import create_table, query_series
from pipelines.timeseries.synthetic import telemetry_envelope
from pipelines.clock import FakeClock
from pipelines.records import to_avro
from pipelines.timeseries.config import TimeseriesConfig
from pipelines.timeseries.pattern import TimeseriesPattern
from pipelines.timeseries.synthetic import TelemetryConfig, generate
from pipelines.timeseries.windows import WindowAggregate
from tests.e2e.test_kcl_daemon import LeaseWatch, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240),
              pytest.mark.skipif(shutil.which("java") is None, reason="the KCL daemon needs Java 11+")]

START_MS = 1_767_225_600_000
WORKERS = ("worker-a", "worker-b")
SETTINGS = {"window_s": 20, "detector_min_history": 10}


def telemetry() -> list[dict]:
    config = TelemetryConfig(devices=6, metrics=("temperature", "humidity"), rate_per_s=30, anomaly_rate=0.01,
                             duplicate_rate=0.01, seed=12)
    rows = [payload for payload, _ in generate(config, 3000, START_MS)]
    # One far-off reading a device closes every window of its shard before it: the stream never ends.
    rows += [{"device_id": f"device-{d:04d}", "metric": "closer", "value": 0.0, "event_time": START_MS + 3_600_000}
             for d in range(6)]
    return rows


def expected_windows(rows: list[dict]) -> dict:
    pattern = TimeseriesPattern(TimeseriesConfig(**SETTINGS), clock=FakeClock(START_MS / 1000 + 86_400))
    outputs = [o for row in rows for o in pattern.on_payload(row)] + pattern.finish()
    return {(o.series, o.window_start): o for o in outputs
            if isinstance(o, WindowAggregate) and not o.series.endswith("/closer")}


def put(kinesis, stream: str, rows: list[dict], first_number: int) -> None:
    entries = [{"Data": to_avro(telemetry_envelope(row, first_number + i, 12)), "PartitionKey": row["device_id"]}
               for i, row in enumerate(rows)]
    for start in range(0, len(entries), 500):
        response = kinesis.put_records(StreamName=stream, Records=entries[start:start + 500])
        assert response["FailedRecordCount"] == 0


def stored_windows(dynamodb, table: str, series: set[str]) -> dict:
    items = {}
    for name in series:
        for item in query_series(dynamodb, table, name, START_MS - 60_000, START_MS + 3_600_000):
            items[(item["series"], item["window_start"])] = item
    return items


def new_stack(prefix: str) -> tuple[str, str, str]:
    """A two-shard stream, its aggregate table and a bucket (the stream's name): (stream, table, bucket)."""
    stream = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    create_table(client("dynamodb"), f"{stream}-windows")
    client("s3").create_bucket(Bucket=stream)
    return stream, f"{stream}-windows", stream


def assert_windows_equal(stored: dict, expected: dict) -> None:
    """The aggregate table's items are the pattern's windows, number for number."""
    assert set(stored) == set(expected)
    for key, window in expected.items():
        item = stored[key]
        assert (item["count"], item["min"], item["max"], item["mean"], item["p95"], item["window_end"]) == (
            window.count, window.min, window.max, window.mean, window.p95, window.window_end), key


def test_a_killed_worker_loses_no_window_and_changes_none(kinesis_mock_stack, tmp_path):
    kinesis, dynamodb, s3 = client("kinesis"), client("dynamodb"), client("s3")
    stream, table, bucket = new_stack("ts-kcl")
    rows = telemetry()
    expected = expected_windows(rows)
    config_file = tmp_path / "ts.json"
    config_file.write_text(json.dumps(SETTINGS))

    def worker(worker_id: str) -> KclConfig:
        processor = python_processor("jobs.kcl.timeseries_processor", "--aggregate-table", table,
                                     "--snapshots", f"s3://{bucket}/state", "--raw-s3", f"s3://{bucket}/raw",
                                     "--dead-letters", f"s3://{bucket}/dead-letters", "--config", str(config_file),
                                     "--checkpoint-interval", "1")
        return KclConfig(stream_name=stream, application_name=stream, worker_id=worker_id, executable=processor,
                         idle_time_between_reads_ms=200, failover_time_ms=3000, lease_assignment_interval_ms=1000,
                         worker_metrics_reporter_interval_ms=500, graceful_lease_handoff_timeout_ms=2000,
                         shutdown_grace_ms=5000, shard_sync_interval_ms=5000, parent_shard_poll_interval_ms=1000,
                         jvm_options=FAST_START_JVM_OPTIONS)

    half = 1500
    put(kinesis, stream, rows[:half], 1)
    leases = LeaseWatch(stream)
    daemons = {w: run_daemon(worker(w), tmp_path, log_path=tmp_path / f"{w}.log") for w in WORKERS}
    series = {key[0] for key in expected}
    try:
        # Both workers hold a shard, and windows of the first half are in the table.
        wait_for(lambda: set(leases.owners().values()) == set(WORKERS) and
                 len(stored_windows(dynamodb, table, series)) >= 10, 120, "windows from both workers", daemons)
        leader = leases.leader()
        victim = next(w for w in WORKERS if w != leader)
        victim_shards = {shard for shard, owner in leases.owners().items() if owner == victim}
        # ... and the victim has checkpointed its shards, each with its snapshot: what the survivor restores (a
        # victim killed before its first checkpoint leaves nothing to restore, and its shard starts over).
        wait_for(lambda: all((leases.checkpoints().get(shard) or "").isdigit() for shard in victim_shards), 60,
                 "the victim's first checkpoint", daemons)
        daemons[victim].kill()
        put(kinesis, stream, rows[half:], 1 + half)
        survivors = {leader: daemons[leader]}
        wait_for(lambda: all(leases.owners().get(shard) == leader for shard in victim_shards), 60,
                 "the dead worker's shards to move", survivors)
        wait_for(lambda: set(stored_windows(dynamodb, table, series)) >= set(expected), 90, "every window",
                 survivors)
        assert_windows_equal(stored_windows(dynamodb, table, series), expected)
        restored = (tmp_path / f"{leader}.log").read_text(errors="replace").count("event=timeseries_restored")
        assert restored >= len(victim_shards), "the survivor took the dead worker's shards from their snapshots"
        raw = s3.list_objects_v2(Bucket=bucket, Prefix="raw/dt=2026-01-01/")
        assert raw.get("KeyCount", 0) > 0, "clean readings reach the raw prefix"
        snapshots = s3.list_objects_v2(Bucket=bucket, Prefix="state/")["Contents"]
        assert {Path(item["Key"]).parent.name for item in snapshots} == set(leases.owners())
    finally:
        for daemon in daemons.values():
            daemon.stop()
