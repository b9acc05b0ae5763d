"""The real KCL 3.1.3 MultiLangDaemon (amazon-kclpy's jars) with two workers and a crash.

Runs on ``kinesis_mock_stack``, not kinesalite: the MultiLangDaemon always
builds its Kinesis client for HTTP/2 (``KinesisClientUtil``), which over
``http://`` is h2c with prior knowledge.  kinesis-mock's plain port speaks it;
kinesalite answers HTTP/1.1 and the daemon fails with "First received frame
was not SETTINGS".

The worker that is killed is the one that is *not* the leader: KCL 3.x moves
leases only from the leader's LeaseAssignmentManager, and the leader's
DynamoDB lock lease is a fixed 2 minutes (``DynamoDBLockBasedLeaderDecider``),
so a dead leader's leases would wait up to 2 minutes for a new leader.
"""
from __future__ import annotations

import json
import shutil
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from connectors.aws import client
from connectors.kcl import FAST_START_JVM_OPTIONS, DaemonProcess, KclConfig, python_processor, run_daemon
from connectors.kinesis.aggregation import UserRecord, aggregate

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(170),
              pytest.mark.skipif(shutil.which("java") is None, reason="the KCL daemon needs Java 11+")]

SHARDS = 4
BEFORE = 200          # plain records put before the workers start
AGGREGATED = 10       # user records in one KPL aggregate, put with them
AFTER = 100           # records put after one worker is killed
WORKERS = ("worker-a", "worker-b")


def fast_config(stream: str, output: Path, worker_id: str) -> KclConfig:
    """Lease timings cut from seconds-to-minutes to about a second, so a failover fits in a test."""
    return KclConfig(stream_name=stream, application_name=stream, worker_id=worker_id,
                     executable=python_processor("jobs.kcl.consume_to_file", "--output", str(output)),
                     idle_time_between_reads_ms=200, failover_time_ms=3000, lease_assignment_interval_ms=1000,
                     worker_metrics_reporter_interval_ms=500, graceful_lease_handoff_timeout_ms=2000,
                     shutdown_grace_ms=5000, shard_sync_interval_ms=5000, parent_shard_poll_interval_ms=1000,
                     jvm_options=FAST_START_JVM_OPTIONS)


def read_output(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class LeaseWatch:
    """Reads the KCL's lease table and remembers every owner each shard has had."""

    def __init__(self, application: str) -> None:
        self.application = application
        self.dynamodb = client("dynamodb")
        self.history: dict[str, list[str | None]] = defaultdict(list)

    def owners(self) -> dict[str, str | None]:
        try:
            items = self.dynamodb.scan(TableName=self.application, ConsistentRead=True)["Items"]
        except self.dynamodb.exceptions.ResourceNotFoundException:
            return {}   # the first worker has not created it yet
        owners = {item["leaseKey"]["S"]: item.get("leaseOwner", {}).get("S") for item in items}
        for shard, owner in owners.items():
            if not self.history[shard] or self.history[shard][-1] != owner:
                self.history[shard].append(owner)
        return owners

    def checkpoints(self) -> dict[str, str | None]:
        """Each shard's checkpoint: TRIM_HORIZON (or the like) until its owner first checkpoints, then a sequence
        number."""
        try:
            items = self.dynamodb.scan(TableName=self.application, ConsistentRead=True)["Items"]
        except self.dynamodb.exceptions.ResourceNotFoundException:
            return {}
        return {item["leaseKey"]["S"]: item.get("checkpoint", {}).get("S") for item in items}

    def leader(self) -> str | None:
        items = self.dynamodb.scan(TableName=f"{self.application}-CoordinatorState", ConsistentRead=True)["Items"]
        return next((item["ownerName"]["S"] for item in items if item["key"]["S"] == "Leader"), None)

    def moved(self) -> set[str]:
        return {shard for shard, owners in self.history.items() if len({o for o in owners if o}) > 1}


def wait_for(condition, timeout_s: float, what: str, daemons: dict[str, DaemonProcess]) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        dead = [name for name, daemon in daemons.items() if not daemon.running()]
        if dead or time.monotonic() > deadline:
            raise AssertionError(f"{'daemon ' + ', '.join(dead) + ' exited' if dead else 'timed out'} "
                                 f"waiting for {what}\n{log_tails(daemons)}")
        time.sleep(0.5)


def log_tails(daemons: dict[str, DaemonProcess]) -> str:
    parts = []
    for name, daemon in daemons.items():
        lines = daemon.log_path.read_text(errors="replace").splitlines() if daemon.log_path else []
        interesting = [line for line in lines if " WARN " in line or " ERROR " in line][-15:]
        parts.append(f"--- {name} (exit {daemon.popen.poll()}): last warnings/errors\n" + "\n".join(interesting))
    return "\n".join(parts)


def put(kinesis, stream: str, prefix: str, count: int) -> list[str]:
    entries = [{"Data": f"{prefix}-{i}".encode(), "PartitionKey": f"{prefix}-key-{i}"} for i in range(count)]
    for start in range(0, count, 500):
        response = kinesis.put_records(StreamName=stream, Records=entries[start:start + 500])
        assert response["FailedRecordCount"] == 0
    return [entry["Data"].decode() for entry in entries]


def test_two_workers_share_the_stream_and_survive_a_crash(kinesis_mock_stack, tmp_path):
    started = time.monotonic()
    stream = f"kcl-e2e-{uuid.uuid4().hex[:8]}"
    output = tmp_path / "records.jsonl"
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=stream, ShardCount=SHARDS)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})

    before = put(kinesis, stream, "before", BEFORE)
    aggregated = [f"agg-{i}" for i in range(AGGREGATED)]
    kinesis.put_record(StreamName=stream, PartitionKey="agg-key",
                       Data=aggregate([UserRecord("agg-key", text.encode()) for text in aggregated]))

    leases = LeaseWatch(stream)
    daemons = {worker: run_daemon(fast_config(stream, output, worker), tmp_path, log_path=tmp_path / f"{worker}.log")
               for worker in WORKERS}
    try:
        # 1. Both workers consume: every record arrives, and each worker holds a lease.
        def all_before_delivered_and_shared() -> bool:
            delivered = {row["data"] for row in read_output(output)}
            owners = leases.owners()
            return delivered >= set(before) | set(aggregated) and set(owners.values()) == set(WORKERS)
        wait_for(all_before_delivered_and_shared, 120, "every record, and leases on both workers", daemons)
        first_record_s = time.monotonic() - started

        # The daemon de-aggregates: ten user records, one Kinesis sequence number, sub-sequences 0..9.
        agg = {(row["sequence_number"], row["sub_sequence_number"]): row["data"]
               for row in read_output(output) if row["data"] in aggregated}
        assert len({sequence for sequence, _ in agg}) == 1
        assert [agg[key] for key in sorted(agg, key=lambda key: key[1])] == aggregated
        assert sorted(sub for _, sub in agg) == list(range(AGGREGATED))

        # 2. Kill the worker that is not the leader: SIGKILL its process group (daemon and processors).
        leader = leases.leader()
        assert leader in WORKERS
        victim = next(worker for worker in WORKERS if worker != leader)
        wait_for(lambda: victim in leases.owners().values(), 30, f"{victim} to hold a lease", daemons)
        victim_shards = {shard for shard, owner in leases.owners().items() if owner == victim}
        daemons[victim].kill()
        killed_at = time.monotonic()
        survivors = {leader: daemons[leader]}

        # 3. Records put now land partly on the dead worker's shards: they wait there for the failover.
        after = put(kinesis, stream, "after", AFTER)

        # 4. Its leases expire and the leader's LeaseAssignmentManager gives them to the survivor...
        wait_for(lambda: all(leases.owners().get(shard) == leader for shard in victim_shards), 60,
                 f"{sorted(victim_shards)} to move from {victim} to {leader}", survivors)
        failover_s = time.monotonic() - killed_at

        # 5. ... which resumes them from the dead worker's last checkpoint.
        wait_for(lambda: {row["data"] for row in read_output(output)} >= set(after), 60,
                 "the records put after the crash", survivors)

        rows = read_output(output)
        after_rows = [row for row in rows if row["data"] in set(after)]
        assert {row["worker_id"] for row in after_rows} == {leader}
        assert {row["shard_id"] for row in after_rows} & victim_shards
        # At least once: a record arrives twice only if its shard changed owner (a crash or a rebalance).
        counts = Counter(row["data"] for row in rows)
        duplicated_shards = {row["shard_id"] for row in rows if counts[row["data"]] > 1}
        assert duplicated_shards <= leases.moved(), (duplicated_shards, dict(leases.history))
        assert set(counts) == set(before) | set(aggregated) | set(after)
    finally:
        for daemon in daemons.values():
            daemon.stop()
    print(f"\nKCL e2e: first full delivery {first_record_s:.1f}s after start, lease failover {failover_s:.1f}s, "
          f"total {time.monotonic() - started:.1f}s, duplicates {sum(c - 1 for c in counts.values())}")
