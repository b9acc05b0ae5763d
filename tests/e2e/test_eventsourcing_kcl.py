"""The event-sourcing KCL processor under the real KCL daemon, reading by enhanced fan-out: two workers, one
killed mid-run.

The aggregates live in the projection table, written over the version they were read at.  When a worker is
SIGKILLed, the survivor takes its shards, replays from their checkpoints, and finds the events the dead worker
had committed to be duplicates by version.  The table, the totals and the derived stream must then equal the
file mode's results for the same records; a snapshot of the table as of the checkpoints (`es snapshot`), and a
rebuild from it, must give the same projections again.
"""
from __future__ import annotations

import json
import shutil

import pytest

from connectors.aws import client
from connectors.eventsourcing_store import read_projections, read_totals
from connectors.kcl import FAST_START_JVM_OPTIONS, KclConfig, python_processor, run_daemon
from tests.e2e.test_kcl_daemon import LeaseWatch, wait_for
from connectors.dead_letter import read_dead_letters
from tests.integration.test_eventsourcing_stream import (assert_same_dead_letters, derived_ids, envelopes, file_mode,
                                                        new_stack, put, shardline)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300),
              pytest.mark.skipif(shutil.which("java") is None, reason="the KCL daemon needs Java 11+")]
WORKERS = ("worker-a", "worker-b")


def test_a_killed_worker_changes_no_aggregate_and_a_snapshot_of_the_table_rebuilds_them(kinesis_mock_stack,
                                                                                          tmp_path):
    kinesis, dynamodb = client("kinesis"), client("dynamodb")
    stream, derived, _, projections, totals, bucket = new_stack("es-kcl")
    records = envelopes()
    expected, expected_derived, expected_totals = file_mode(tmp_path, records)

    def worker(worker_id: str) -> KclConfig:
        processor = python_processor("jobs.kcl.eventsourcing_processor", "--projection-table", projections,
                                     "--totals-table", totals, "--derived-stream", derived,
                                     "--dead-letters", f"s3://{bucket}/dead-letters", "--checkpoint-interval", "1")
        # FANOUT: the KCL reads through enhanced fan-out (SubscribeToShard over HTTP/2), which kinesis-mock serves.
        return KclConfig(stream_name=stream, application_name=stream, worker_id=worker_id, executable=processor,
                         retrieval_mode="FANOUT", idle_time_between_reads_ms=200, failover_time_ms=3000, lease_assignment_interval_ms=1000,
                         worker_metrics_reporter_interval_ms=500, graceful_lease_handoff_timeout_ms=2000,
                         shutdown_grace_ms=5000, shard_sync_interval_ms=5000, parent_shard_poll_interval_ms=1000,
                         jvm_options=FAST_START_JVM_OPTIONS)

    half = len(records) // 2
    put(kinesis, stream, records[:half])
    leases = LeaseWatch(stream)
    daemons = {w: run_daemon(worker(w), tmp_path, log_path=tmp_path / f"{w}.log") for w in WORKERS}
    try:
        wait_for(lambda: set(leases.owners().values()) == set(WORKERS) and
                 len(read_projections(dynamodb, projections)) >= 5, 120, "aggregates from both workers", daemons)
        leader = leases.leader()
        victim = next(w for w in WORKERS if w != leader)
        victim_shards = {shard for shard, owner in leases.owners().items() if owner == victim}
        daemons[victim].kill()
        put(kinesis, stream, records[half:])
        survivors = {leader: daemons[leader]}
        wait_for(lambda: all(leases.owners().get(shard) == leader for shard in victim_shards), 60,
                 "the dead worker's shards to move", survivors)
        wait_for(lambda: read_projections(dynamodb, projections) == expected, 90, "every aggregate's final state",
                 survivors)
        assert read_totals(dynamodb, totals) == expected_totals
        arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
        assert kinesis.list_stream_consumers(StreamARN=arn)["Consumers"], "the KCL registered its EFO consumer"
        ids = derived_ids(kinesis, derived)
        assert set(ids) == {event["id"] for event in expected_derived}
        assert max(ids.values()) == 1  # the survivor read the derived stream back and sent none twice
        assert_same_dead_letters(client("s3"), bucket, read_dead_letters(tmp_path / "file.dlq.jsonl"))

        # A snapshot of the table as of the checkpoints, and a rebuild from it, give the same projections.
        taken = shardline("es", "snapshot", "--table", projections, "--application", stream, "--stream", stream,
                          "--to", f"s3://{bucket}/snapshots", "--json")
        assert taken.returncode == 0, taken.stderr
        out = tmp_path / "rebuilt.jsonl"
        rebuilt = shardline("es", "rebuild", "--stream", stream, "--from-snapshot", json.loads(taken.stdout)["url"],
                            "--output", str(out), "--idle-timeout", "2", "--dlq", str(tmp_path / "rebuild.dlq"))
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert [json.loads(line) for line in out.read_text().splitlines()] == expected
    finally:
        for daemon in daemons.values():
            daemon.stop()
