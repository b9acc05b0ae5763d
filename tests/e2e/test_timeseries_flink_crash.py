"""The time-series Flink job on a standalone cluster, its TaskManager SIGKILLed mid-stream and restored.

The job's zip is submitted with ``flink run``; readings flow in at a steady rate, stamped with the time they
are put.  Once a checkpoint has completed and windows are in DynamoDB, the TaskManager (and its Python
workers) is killed and another started.  The job restores its last checkpoint (the source's positions,
series_step's state, the open windows) and reads on: the windows in DynamoDB then equal those of the
pattern run over the same readings without a crash, window for window (a replayed window is rewritten with
the same numbers, under the same key).
"""
from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
import zipfile

import pytest

from connectors.aws import AwsConfig, client
from connectors.flink import build_connector_jar
from connectors.testing import create_stream
from connectors.timeseries_store import create_table, query_series
from flink_standalone import StandaloneFlink, rest, submit, wait_for_restore, wait_until
from pipelines.timeseries.synthetic import telemetry_envelope
from jobs.packaging.flink import build_managed_flink_zip
from pipelines.clock import FakeClock
from pipelines.records import to_avro
from pipelines.timeseries.config import TimeseriesConfig
from pipelines.timeseries.pattern import TimeseriesPattern
from pipelines.timeseries.synthetic import TelemetryConfig, TelemetryGenerator
from pipelines.timeseries.windows import WindowAggregate

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600),
              pytest.mark.skipif(shutil.which("java") is None, reason="Flink needs Java 11+")]

RECORDS, RATE = 4_000, 200.0   # 20 s of readings: the crash lands in the middle
SETTINGS = {"window_s": 2, "detector_min_history": 10}
CHECKPOINT_MS = 3_000


class Producer(threading.Thread):
    """Puts readings at a steady rate, each stamped with the time it is put, then one closing reading a device
    a minute later, so every window before it closes on every shard."""

    def __init__(self, kinesis, stream: str) -> None:
        super().__init__(daemon=True)
        self.kinesis, self.stream, self.sent, self.error = kinesis, stream, [], None

    def run(self) -> None:
        try:
            generator = TelemetryGenerator(TelemetryConfig(devices=8, metrics=("temperature", "humidity"),
                                                           anomaly_rate=0.01, jitter_s=0, seed=17))
            started = time.monotonic()
            for start in range(0, RECORDS, 50):
                now_ms = int(time.time() * 1000)
                self.put([generator.next(now_ms)[0] for _ in range(50)])
                time.sleep(max(0.0, started + (start + 50) / RATE - time.monotonic()))
            last = int(time.time() * 1000) + 60_000
            self.put([{"device_id": f"device-{d:04d}", "metric": "closer", "value": 0.0, "event_time": last}
                      for d in range(8)])
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def put(self, payloads: list[dict]) -> None:
        entries = [{"Data": to_avro(telemetry_envelope(p, len(self.sent) + i, 17)), "PartitionKey": p["device_id"]}
                   for i, p in enumerate(payloads)]
        assert self.kinesis.put_records(StreamName=self.stream, Records=entries)["FailedRecordCount"] == 0
        self.sent.extend(payloads)


def stored(dynamodb, table: str, series: set[str]) -> dict:
    return {(item["series"], item["window_start"]): item for name in series
            for item in query_series(dynamodb, table, name, 0, 2**62)}


def test_a_killed_taskmanager_is_restored_and_the_windows_equal_an_uninterrupted_run(local_stack, tmp_path):
    jar = build_connector_jar()
    app = tmp_path / "app"
    zipfile.ZipFile(build_managed_flink_zip("timeseries", tmp_path / "ts.zip", jar=jar)).extractall(app)
    suffix = uuid.uuid4().hex[:8]
    source, table, bucket = f"tsc-in-{suffix}", f"tsc-win-{suffix}", f"tsc-{suffix}"
    kinesis, dynamodb = client("kinesis", AwsConfig(sdk_retries=3)), client("dynamodb")
    create_stream(kinesis, source, 2)
    create_table(dynamodb, table)
    client("s3").create_bucket(Bucket=bucket)
    properties = tmp_path / "application_properties.json"
    properties.write_text(json.dumps([{"PropertyGroupId": "shardline", "PropertyMap": {
        "input.stream": source, "aggregate.table": table, "dead_letter.s3": f"s3://{bucket}/dead-letters",
        "source.init.position": "TRIM_HORIZON", "checkpoint.interval.ms": str(CHECKPOINT_MS),
        "checkpoint.dir": str(tmp_path / "checkpoints"), "python.bundle.time.ms": "100",
        **{f"ts.{key}": str(value) for key, value in SETTINGS.items()}}}]))
    cluster = StandaloneFlink(tmp_path / "flink", slots=2).start()
    try:
        job_id = submit(cluster, app, properties)
        producer = Producer(kinesis, source)
        started_ms = time.time() * 1000
        producer.start()
        series = {f"device-{d:04d}/{m}" for d in range(8) for m in ("temperature", "humidity")}

        def checkpointed_with_windows():
            latest = rest(cluster, f"/jobs/{job_id}/checkpoints")["latest"]["completed"]
            return latest if latest and latest["trigger_timestamp"] > started_ms + 3_000 and \
                len(stored(dynamodb, table, series)) >= 20 else None
        checkpoint = wait_until(checkpointed_with_windows, 120, "for a checkpoint and windows", cluster)
        time.sleep(1.5)
        killed_ms = time.time() * 1000
        cluster.kill_taskmanager()
        cluster.start_taskmanager()
        producer.join(timeout=120)
        assert producer.error is None and len(producer.sent) == RECORDS + 8, producer.error

        pattern = TimeseriesPattern(TimeseriesConfig(**SETTINGS), clock=FakeClock(time.time() + 3600))
        expected = {(o.series, o.window_start): o for p in producer.sent for o in pattern.on_payload(p)
                    if isinstance(o, WindowAggregate) and not o.series.endswith("/closer")}
        assert pattern.stats.late == 0 and pattern.stats.rejected == 0
        restored = wait_for_restore(cluster, job_id)
        deadline = time.monotonic() + 180
        while not set(stored(dynamodb, table, series)) >= set(expected):
            missing = sorted(set(expected) - set(stored(dynamodb, table, series)))
            assert time.monotonic() < deadline, (f"{len(missing)} of {len(expected)} windows never came, e.g. "
                                                 f"{missing[:5]}; killed at {killed_ms}")
            time.sleep(1)
        rest(cluster, f"/jobs/{job_id}?mode=cancel", method="PATCH")
    finally:
        cluster.stop()
    assert restored is not None and restored["id"] >= checkpoint["id"], "restored from a checkpoint before the crash"
    items = stored(dynamodb, table, series)
    assert set(items) == set(expected)
    for key, window in expected.items():
        item = items[key]
        assert (item["count"], item["min"], item["max"], item["mean"], item["p95"]) == (
            window.count, window.min, window.max, window.mean, window.p95), key
