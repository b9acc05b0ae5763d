"""`shardline es run --stream` and `es rebuild`: the local runner as the event-sourcing engine on kinesalite and moto.

A bank stream with every fault (duplicates, swapped neighbours, gaps, bad records, refused withdrawals) goes to a
two-shard stream, partitioned by account.  The first run (a real process) is SIGKILLed once it has saved a
snapshot; the second resumes from the latest snapshot and reads the rest.  The projection table, the totals and
the derived stream must then equal what the file mode gives for the same records; rebuilding from the latest
snapshot, and from the start, must give the same projections again.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from decimal import Decimal
from typing import NamedTuple

import pytest

from connectors.aws import client
from connectors.dead_letter import parse_dead_letters, read_dead_letters
from connectors.eventsourcing_snapshots import SnapshotLocation
from connectors.eventsourcing_store import create_tables, read_projections, read_totals
from connectors.kinesis.batches import user_records
from connectors.testing import create_stream
from pipelines.eventsourcing.synthetic import BankStreamConfig, bank_envelope, generate_bank_stream
from pipelines.records import from_avro, to_avro, to_json_line

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
SEED = 11
SETTINGS = {"snapshot_every_events": 40, "snapshot_every_s": 0.5}


class EsStack(NamedTuple):
    stream: str
    derived: str
    letters: str
    projections: str
    totals: str
    bucket: str


def new_stack(prefix: str, shards: int = 2) -> EsStack:
    """An event stream of ``shards`` shards, a derived stream, a dead-letter stream, the projection and totals
    tables and a bucket, named after ``prefix`` and a random suffix (every engine's test starts from one)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    stack = EsStack(name, f"{name}-derived", f"{name}-dlq", f"{name}-accounts", f"{name}-branches", name)
    kinesis = client("kinesis")
    for stream, count in ((stack.stream, shards), (stack.derived, 2), (stack.letters, 1)):
        create_stream(kinesis, stream, count)
    create_tables(client("dynamodb"), stack.projections, stack.totals)
    client("s3").create_bucket(Bucket=stack.bucket)
    return stack


def shardline(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from jobs.cli import app; app()", *args], capture_output=True,
                          text=True, timeout=120, **kwargs)


def envelopes() -> list:
    stream = generate_bank_stream(BankStreamConfig(accounts=30, transactions=12, refused_rate=0.1,
                                                   duplicate_rate=0.05, swap_rate=0.1, gap_rate=0.05, bad_rate=0.03,
                                                   seed=SEED))
    return [bank_envelope(payload, number, SEED) for number, (payload, _) in enumerate(stream.records)]


def put(kinesis, stream: str, records: list) -> None:
    entries = [{"Data": to_avro(record), "PartitionKey": record.partition_key} for record in records]
    for start in range(0, len(entries), 500):
        assert kinesis.put_records(StreamName=stream, Records=entries[start:start + 500])["FailedRecordCount"] == 0


def file_mode(tmp_path, records: list) -> tuple[list, list, dict]:
    """The file mode over ``records``: (state lines, derived envelopes, branch totals)."""
    events = tmp_path / "events.jsonl"
    events.write_text("".join(to_json_line(record) + "\n" for record in records))
    state, derived = tmp_path / "file-state.jsonl", tmp_path / "file-derived.jsonl"
    result = shardline("es", "run", "--input", str(events), "--output", str(state), "--derived", str(derived),
                       "--dlq", str(tmp_path / "file.dlq.jsonl"))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in state.read_text().splitlines()]
    totals: dict = {}
    for line in lines:
        branch = line["state"].get("branch")
        if branch is not None:
            totals[branch] = totals.get(branch, Decimal(0)) + Decimal(line["state"]["balance"])
    return lines, [json.loads(line) for line in derived.read_text().splitlines()], totals


END_OF_INPUT = "version gap not filled by the end of the input"
"""The file mode's reason for events still held when its input ends; a stream has no end: they stay held."""


def assert_same_dead_letters(s3, bucket: str, file_letters) -> None:
    """The stream's dead letters give the file mode's reasons (each at least once: a replay may repeat one),
    with masked data and the record's stream position."""
    letters = [letter for item in s3.list_objects_v2(Bucket=bucket, Prefix="dead-letters")["Contents"]
               for letter in parse_dead_letters(
                   s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().splitlines(), item["Key"])]
    expected = {letter.reason for letter in file_letters if letter.reason != END_OF_INPUT}
    assert expected and {letter.reason for letter in letters} == expected
    assert all(letter.source.startswith("kinesis:") for letter in letters)
    assert not any(b"Customer " in letter.data for letter in letters)  # owners are masked


def derived_ids(kinesis, stream: str) -> Counter:
    ids: Counter = Counter()
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            response = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            consumed, broken = user_records(shard["ShardId"], response["Records"])  # KPL-aggregated
            assert not broken
            ids.update(from_avro(record.data).id for record in consumed)
            if not response["Records"] and response.get("MillisBehindLatest", 0) == 0:
                break
            iterator = response.get("NextShardIterator")
    return ids


def test_a_killed_run_resumes_from_its_snapshot_and_a_rebuild_gives_the_same_projections(local_stack, tmp_path):
    kinesis, dynamodb = client("kinesis"), client("dynamodb")
    stream, derived, _, projections, totals, bucket = new_stack("es")
    records = envelopes()
    expected, expected_derived, expected_totals = file_mode(tmp_path, records)
    settings = tmp_path / "es.json"
    settings.write_text(json.dumps(SETTINGS))
    snapshots = f"s3://{bucket}/snapshots"
    args = ["es", "run", "--stream", stream, "--config", str(settings), "--snapshots", snapshots,
            "--projection-table", projections, "--totals-table", totals, "--derived-stream", derived,
            "--dlq", f"s3://{bucket}/dead-letters"]

    half = len(records) // 2
    put(kinesis, stream, records[:half])
    first = subprocess.Popen([sys.executable, "-c", "from jobs.cli import app; app()", *args],
                             env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True)
    location = SnapshotLocation(snapshots)
    try:
        deadline = time.monotonic() + 60
        while not location.list():
            assert first.poll() is None, first.stderr.read().decode()
            assert time.monotonic() < deadline, "the first run never saved a snapshot"
            time.sleep(0.05)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    killed_at = location.list()[-1]
    put(kinesis, stream, records[half:])

    second = shardline(*args, "--idle-timeout", "3", "--json")
    assert second.returncode == 0, second.stderr
    assert read_projections(dynamodb, projections) == expected
    assert read_totals(dynamodb, totals) == expected_totals
    ids = derived_ids(kinesis, derived)
    assert set(ids) == {event["id"] for event in expected_derived}
    # The resumed run read the derived stream back from its snapshot's time and sent none twice.
    assert max(ids.values()) == 1
    assert_same_dead_letters(client("s3"), bucket, read_dead_letters(tmp_path / "file.dlq.jsonl"))

    # es state reads the table; a rebuild from the snapshot the kill left, and one from the start, agree.
    some = expected[len(expected) // 2]
    state = shardline("es", "state", some["aggregate_id"], "--table", projections, "--json")
    assert state.returncode == 0, state.stderr
    assert json.loads(state.stdout) == some
    for how in (["--from-snapshot", killed_at], ["--from-start"]):
        out = tmp_path / f"rebuilt{len(how)}.jsonl"
        rebuilt = shardline("es", "rebuild", "--stream", stream, *how, "--output", str(out), "--idle-timeout", "2",
                            "--dlq", str(tmp_path / "rebuild.dlq.jsonl"))
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert [json.loads(line) for line in out.read_text().splitlines()] == expected, how
    listed = shardline("es", "snapshot", "--list", snapshots, "--json")
    assert killed_at in [entry["url"] for entry in json.loads(listed.stdout)]
