"""The event-sourcing Flink job end to end on the local stack, against the file mode on the same records.

Bank events with every fault the generator makes (duplicates, swapped versions, gaps, records that are no
event, refused withdrawals) go on a two-shard stream, partitioned by account, and the job reads them bounded
on the MiniCluster.  The file mode (``shardline es run``) reads the same envelopes in one order; each shard
keeps an account's events in order, so per account the results are the same: the projection items in
DynamoDB are the file's state lines, the derived events on their stream its ``--derived`` lines (by id, none
twice), the dead letters' reasons its letters' reasons, and the totals per branch the pattern's.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from connectors.aws import AwsConfig, client
from connectors.dead_letter import DeadLetter, read_dead_letters
from jobs.local.dlq import iter_letters
from connectors.flink import build_connector_jar
from connectors.eventsourcing_store import read_projections, read_totals, scan_items
from connectors.testing import read_stream_data
from tests.integration.test_eventsourcing_stream import new_stack
from jobs.local.eventsourcing import EventSourcingFileRun, run_eventsourcing_file
from pipelines.eventsourcing.config import EventSourcingConfig
from pipelines.eventsourcing.pattern import EventSourcingPattern
from pipelines.eventsourcing.synthetic import BankStreamConfig, bank_envelope, generate_bank_stream
from pipelines.records import from_avro, from_json_line, to_avro, to_json_line

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(400)]
REPO_ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {"large_withdrawal": "5000"}
SEED = 5


def bank_records() -> list:
    stream = generate_bank_stream(BankStreamConfig(accounts=30, transactions=10, refused_rate=0.08,
                                                   duplicate_rate=0.05, swap_rate=0.1, gap_rate=0.25, bad_rate=0.03,
                                                   close_rate=0.3, large_rate=0.15, seed=SEED))
    return [bank_envelope(payload, number, SEED) for number, (payload, _) in enumerate(stream.records, start=1)]


def projections(table: str) -> dict[str, dict]:
    """The projection table's items as state lines, by aggregate id."""
    return {line["aggregate_id"]: line for line in read_projections(client("dynamodb"), table)}


def file_mode(records: list, work: Path) -> dict:
    """``shardline es run`` over the records in one file, and the pattern's branch totals."""
    path = work / "events.jsonl"
    path.write_text("".join(to_json_line(record) + "\n" for record in records))
    run = EventSourcingFileRun(path, work / "state.jsonl", work / "derived.jsonl", work / "letters.jsonl")
    config = EventSourcingConfig.from_dict(SETTINGS)
    asyncio.run(run_eventsourcing_file(run, config))
    pattern = EventSourcingPattern(config)
    for record in records:
        pattern.on_record(record)
    pattern.finish()
    return {"state": {line["aggregate_id"]: line for line in map(json.loads, run.output.read_text().splitlines())},
            "derived": [from_json_line(line) for line in run.derived.read_text().splitlines()],
            "letters": list(read_dead_letters(run.dead_letters)), "totals": pattern.branch_totals()}


TOO_LARGE_FOR_A_LETTER_STREAM = b"not an envelope, " + b"and long " * 100_000  # 900 KB, no personal data


@pytest.fixture(scope="module")
def run(local_stack, tmp_path_factory):
    build_connector_jar()
    work = tmp_path_factory.mktemp("es-flink")
    source, derived, letters, projection, totals, bucket = new_stack("es-flink")
    kinesis, dynamodb = client("kinesis", AwsConfig(sdk_retries=3)), client("dynamodb")
    records = bank_records()
    entries = [{"Data": to_avro(record), "PartitionKey": record.partition_key} for record in records]
    entries.append({"Data": b"not an envelope", "PartitionKey": "bad"})
    for start in range(0, len(entries), 500):
        assert kinesis.put_records(StreamName=source, Records=entries[start:start + 500])["FailedRecordCount"] == 0
    kinesis.put_record(StreamName=source, Data=TOO_LARGE_FOR_A_LETTER_STREAM, PartitionKey="big")
    properties = work / "application_properties.json"
    properties.write_text(json.dumps([{"PropertyGroupId": "shardline", "PropertyMap": {
        "input.stream": source, "projection.table": projection, "totals.table": totals, "derived.stream": derived,
        "dead_letter.stream": letters, "dead_letter.s3": f"s3://{bucket}/dead-letters",
        "source.bounded": "true", "checkpoint.interval.ms": "2000",
        "checkpoint.dir": str(work / "checkpoints"), "python.bundle.time.ms": "100",
        **{f"es.{key}": value for key, value in SETTINGS.items()}}}]))
    done = subprocess.run([sys.executable, "-m", "jobs.flink.eventsourcing_job", "--properties", str(properties)],
                          cwd=REPO_ROOT, env={**os.environ, "FLINK_LOG_DIR": str(work / "logs")},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    return {"stream": source, "expected": file_mode(records, work), "items": projections(projection),
            "raw_items": list(scan_items(dynamodb, projection)),
            "totals": read_totals(dynamodb, totals), "derived": [from_avro(d) for d in read_stream_data(kinesis, derived)],
            "letters": [DeadLetter.from_json(d) for d in read_stream_data(kinesis, letters)],
            "s3_letters": list(iter_letters(f"s3://{bucket}/dead-letters"))}  # as dlq redrive reads them


def test_the_projection_items_are_the_file_mode_s_state_lines(run):
    expected = run["expected"]["state"]
    assert run["items"] == expected and len(expected) >= 25
    for item in run["raw_items"]:
        assert set(item) == {"aggregate_id", "version", "status", "state", "occurred_at"}
        assert "N" in item["version"] and "N" in item["occurred_at"] and int(item["occurred_at"]["N"]) > 0


def test_derived_events_are_the_file_mode_s_each_once(run):
    ids = Counter(record.id for record in run["derived"])
    assert [i for i, n in ids.items() if n > 1] == []
    expected = {record.id: record for record in run["expected"]["derived"]}
    assert {record.id: record for record in run["derived"]} == expected
    assert {record.type for record in expected.values()} == {"BalanceChanged", "LargeWithdrawal"}


def test_dead_letters_give_the_file_mode_s_reasons(run):
    expected = Counter((letter.error_type, letter.reason) for letter in run["expected"]["letters"])
    got = Counter((letter.error_type, letter.reason) for letter in run["letters"] if letter.data != b"not an envelope")
    assert got == expected
    reasons = " ".join(reason for _, reason in expected)
    for reason in ("version gap not filled by the end of the input", "below zero", "field 'version'",
                   "is neither a map"):
        assert reason in reasons
    assert [letter.error_type for letter in run["letters"] if letter.data == b"not an envelope"] == [
        "RecordValidationError"]
    held = [letter for letter in run["letters"] if letter.source.endswith(":held")]
    assert held and all(json.loads(letter.data)["event_id"] for letter in held)
    position = re.compile(rf"kinesis:{re.escape(run['stream'])}/shardId-\d{{12}}/\d+(:\d+)?")
    assert all(position.fullmatch(letter.source) for letter in run["letters"] if letter not in held)
    assert all(b"Customer " not in letter.data for letter in run["letters"])  # masked: owners are personal


def test_a_letter_too_large_for_the_dead_letter_stream_goes_to_s3(run):
    """Its letter (the data in base64) is larger than any Kinesis record: the sink would fail the job on it."""
    assert [(letter.error_type, letter.data) for letter in run["s3_letters"]] == [
        ("RecordValidationError", TOO_LARGE_FOR_A_LETTER_STREAM)]
    assert all(len(letter.data) < 1000 for letter in run["letters"])


def test_the_totals_per_branch_are_the_pattern_s(run):
    assert run["totals"] == run["expected"]["totals"] and len(run["totals"]) == 4
