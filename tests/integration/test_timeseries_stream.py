"""`shardline ts run --stream`: the local runner as the time-series engine, killed mid-stream and resumed.

The first run (a real process) reads half the readings and is SIGKILLed after its first checkpoint; the
second, on the same checkpoint file and snapshot folder, reads the rest.  The windows in DynamoDB must equal
those of the pattern run over every reading at once: the windows open at the kill come back from the
snapshot, and what the first run wrote is overwritten with the same keys.  Records that are no reading are
dead letters with their stream position.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from connectors.aws import client
from connectors.dead_letter import parse_dead_letters
from jobs.local.timeseries_sinks import TimeseriesOutputs
from jobs.local.timeseries_stream import TimeseriesStreamRun, run_timeseries_stream
from pipelines.timeseries.config import TimeseriesConfig
from tests.e2e.test_timeseries_kcl import (SETTINGS, assert_windows_equal, expected_windows, new_stack, put,
                                           stored_windows, telemetry)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def checkpointed_shards(path) -> int:
    try:
        return len(json.loads(path.read_text()))
    except (OSError, ValueError):
        return 0


def test_a_killed_run_resumes_from_its_snapshot_and_changes_no_window(local_stack, tmp_path):
    import asyncio

    kinesis, dynamodb, s3 = client("kinesis"), client("dynamodb"), client("s3")
    stream, table, bucket = new_stack("ts-run")
    rows = telemetry()
    half = len(rows) // 2
    put(kinesis, stream, rows[:half], 0)
    kinesis.put_record(StreamName=stream, Data=b"not an envelope", PartitionKey="device-0000")
    checkpoints, snapshots, settings = tmp_path / "cp.json", tmp_path / "state", tmp_path / "ts.json"
    settings.write_text(json.dumps(SETTINGS))
    args = ["--stream", stream, "--config", str(settings), "--aggregate-table", table,
            "--dlq", f"s3://{bucket}/dead-letters", "--raw-s3", f"s3://{bucket}/raw",
            "--snapshots", str(snapshots), "--checkpoints", str(checkpoints), "--checkpoint-interval", "0"]

    first = subprocess.Popen([sys.executable, "-c", "from jobs.cli import app; app()", "ts", "run", *args],
                             env=os.environ.copy(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while checkpointed_shards(checkpoints) < 2:
            assert first.poll() is None, first.stderr.read().decode()
            assert time.monotonic() < deadline, "the first run never checkpointed both shards"
            time.sleep(0.1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # no flush, no end-of-run save: a crash
        first.wait()
    assert list(snapshots.rglob("*")), "the first run saved no state"

    put(kinesis, stream, rows[half:], half)
    run = TimeseriesStreamRun(stream=stream, snapshots=str(snapshots), checkpoints=checkpoints, idle_timeout_s=3.0)
    outputs = TimeseriesOutputs(aggregate_table=table, dead_letters=f"s3://{bucket}/dead-letters",
                                raw_s3=f"s3://{bucket}/raw")
    stats = asyncio.run(run_timeseries_stream(run, outputs, TimeseriesConfig(**SETTINGS)))

    expected = expected_windows(rows)
    assert_windows_equal(stored_windows(dynamodb, table, {series for series, _ in expected}), expected)
    assert stats.read > 0
    letters = [letter for obj in s3.list_objects_v2(Bucket=bucket, Prefix="dead-letters")["Contents"]
               for letter in parse_dead_letters(
                   s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().splitlines(), obj["Key"])]
    assert letters and all(letter.source.startswith(f"kinesis:{stream}/shardId-") for letter in letters)
