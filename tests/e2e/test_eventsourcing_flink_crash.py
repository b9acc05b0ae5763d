"""The event-sourcing Flink job on a standalone cluster, its TaskManager SIGKILLed mid-stream and restored.

The job's zip is submitted with ``flink run``; bank events (duplicates, gaps, refusals, records that are no
event) flow in at a steady rate, and wait half way.  Once a checkpoint has completed and projections are in
DynamoDB, the TaskManager (and its Python workers) is killed, the rest of the events flow in, and another
TaskManager starts.  The job restores its last checkpoint
(the source's positions, each aggregate's keyed state, the running totals) and reads on: the projection
table then equals the file mode's over the same records, the totals the pattern's, and the derived stream
holds every derived event the file mode derives, each exactly once (the exactly-once sink; at least once,
with the same ids, where the connector has none).  Gaps time out on a short processing-time timer, across
the restore: their events are dead letters, and no projection depends on when (a version that never comes).
"""
from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
import zipfile
from collections import Counter

import pytest

from connectors.aws import AwsConfig, client
from connectors.dead_letter import DeadLetter
from connectors.flink import build_connector_jar
from connectors.eventsourcing_store import read_totals
from connectors.testing import read_stream_data
from flink_standalone import StandaloneFlink, rest, restored_checkpoint, submit, wait_for_restore, wait_until
from jobs.local.eventsourcing import EventSourcingFileRun, run_eventsourcing_file
from jobs.packaging.flink import build_managed_flink_zip
from pipelines.eventsourcing.config import EventSourcingConfig
from pipelines.eventsourcing.pattern import EventSourcingPattern
from pipelines.eventsourcing.synthetic import BankStreamConfig, bank_envelope, generate_bank_stream
from pipelines.records import from_avro, from_json_line, to_avro, to_json_line
from test_eventsourcing_flink import projections
from tests.integration.test_eventsourcing_stream import new_stack

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600),
              pytest.mark.skipif(shutil.which("java") is None, reason="Flink needs Java 11+")]

RATE = 250.0        # events a second: about 8 s of events, the crash half way
CHECKPOINT_MS = 2_000
GAP_TIMEOUT_S = 4
SEED = 9


def records() -> list:
    # No swapped versions: a swap held across the crash could time out during the restore, which a clean run
    # never sees.  A gap's version never comes, so its events never apply, whenever they time out.
    stream = generate_bank_stream(BankStreamConfig(accounts=50, transactions=36, refused_rate=0.05,
                                                   duplicate_rate=0.03, gap_rate=0.15, bad_rate=0.01,
                                                   large_rate=0.1, seed=SEED))
    return [bank_envelope(payload, number, SEED) for number, (payload, _) in enumerate(stream.records, start=1)]


class Producer(threading.Thread):
    """Puts the events at a steady rate; half way it waits for ``resume`` (set once the TaskManager is killed),
    so the crash lands mid-stream however slowly the job starts."""

    def __init__(self, kinesis, stream: str, envelopes: list) -> None:
        super().__init__(daemon=True)
        self.kinesis, self.stream, self.envelopes, self.sent, self.error = kinesis, stream, envelopes, 0, None
        self.resume = threading.Event()

    def run(self) -> None:
        try:
            started, half = time.monotonic(), len(self.envelopes) // 2
            for start in range(0, len(self.envelopes), 50):
                if start >= half and not self.resume.is_set():
                    self.resume.wait(300)
                    started = time.monotonic() - self.sent / RATE
                batch = self.envelopes[start:start + 50]
                entries = [{"Data": to_avro(r), "PartitionKey": r.partition_key} for r in batch]
                assert self.kinesis.put_records(StreamName=self.stream, Records=entries)["FailedRecordCount"] == 0
                self.sent += len(batch)
                time.sleep(max(0.0, started + self.sent / RATE - time.monotonic()))
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def clean_run(envelopes: list, tmp_path) -> dict:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(to_json_line(r) + "\n" for r in envelopes))
    run = EventSourcingFileRun(path, tmp_path / "state.jsonl", tmp_path / "derived.jsonl", tmp_path / "dlq.jsonl")
    asyncio.run(run_eventsourcing_file(run, EventSourcingConfig()))
    pattern = EventSourcingPattern(EventSourcingConfig())
    for record in envelopes:
        pattern.on_record(record)
    return {"state": {line["aggregate_id"]: line for line in map(json.loads, run.output.read_text().splitlines())},
            "derived": {r.id: r for r in map(from_json_line, run.derived.read_text().splitlines())},
            "totals": pattern.branch_totals()}


def test_a_killed_taskmanager_is_restored_and_the_outputs_equal_a_clean_run(local_stack, tmp_path):
    jar = build_connector_jar()
    app = tmp_path / "app"
    zipfile.ZipFile(build_managed_flink_zip("eventsourcing", tmp_path / "es.zip", jar=jar)).extractall(app)
    source, derived, letters, projection, totals, bucket = new_stack("es-crash")
    kinesis, dynamodb = client("kinesis", AwsConfig(sdk_retries=3)), client("dynamodb")
    envelopes = records()
    expected = clean_run(envelopes, tmp_path)
    properties = tmp_path / "application_properties.json"
    properties.write_text(json.dumps([{"PropertyGroupId": "shardline", "PropertyMap": {
        "input.stream": source, "projection.table": projection, "totals.table": totals, "derived.stream": derived,
        "dead_letter.stream": letters, "dead_letter.s3": f"s3://{bucket}/dead-letters",
        "source.init.position": "TRIM_HORIZON",
        "checkpoint.interval.ms": str(CHECKPOINT_MS), "checkpoint.dir": str(tmp_path / "checkpoints"),
        "python.bundle.time.ms": "100", "es.gap_timeout_s": str(GAP_TIMEOUT_S)}}]))
    cluster = StandaloneFlink(tmp_path / "flink", slots=1).start()
    try:
        job_id = submit(cluster, app, properties)
        producer = Producer(kinesis, source, envelopes)
        started_ms = time.time() * 1000
        producer.start()

        def checkpointed_with_projections():
            latest = rest(cluster, f"/jobs/{job_id}/checkpoints")["latest"]["completed"]
            return latest if latest and latest["trigger_timestamp"] > started_ms + 2_000 and \
                dynamodb.scan(TableName=projection, Select="COUNT")["Count"] >= 20 else None
        checkpoint = wait_until(checkpointed_with_projections, 120, "for a checkpoint and projections", cluster)
        time.sleep(1.0)
        cluster.kill_taskmanager()
        producer.resume.set()
        cluster.start_taskmanager()
        producer.join(timeout=120)
        assert producer.error is None and producer.sent == len(envelopes), producer.error
        wait_for_restore(cluster, job_id)

        def caught_up():  # items and totals are written once a tick, then wait in the sinks' buffers up to 5 s
            return projections(projection) == expected["state"] and \
                len(set(map(_id, read_stream_data(kinesis, derived)))) >= len(expected["derived"]) and \
                read_totals(dynamodb, totals) == expected["totals"]
        deadline = time.monotonic() + 150
        while not caught_up():
            if time.monotonic() > deadline:
                state = projections(projection)
                wrong = sorted(key for key in expected["state"] if state.get(key) != expected["state"][key])
                ids = set(map(_id, read_stream_data(kinesis, derived)))
                pytest.fail(f"no catching up: {len(wrong)} of {len(expected['state'])} projections differ, e.g. "
                            f"{[(state.get(k), expected['state'][k]) for k in wrong[:2]]}; {len(ids)} of "
                            f"{len(expected['derived'])} derived events, {len(ids - set(expected['derived']))} "
                            f"unexpected; totals {read_totals(dynamodb, totals)}, expected {expected['totals']}")
            time.sleep(2)
        restored = restored_checkpoint(cluster, job_id)
        rest(cluster, f"/jobs/{job_id}?mode=cancel", method="PATCH")
    finally:
        cluster.stop()
    assert restored is not None and restored["id"] >= checkpoint["id"], "restored from a checkpoint before the crash"
    assert projections(projection) == expected["state"]
    assert read_totals(dynamodb, totals) == expected["totals"]
    sent = [from_avro(data) for data in read_stream_data(kinesis, derived)]
    assert {r.id: r for r in sent} == expected["derived"]
    repeated = [i for i, n in Counter(r.id for r in sent).items() if n > 1]
    assert repeated == [], f"{len(repeated)} derived events sent twice"  # the exactly-once sink read back
    gap_letters = [DeadLetter.from_json(d) for d in read_stream_data(kinesis, letters)]
    assert any(letter.reason == f"version gap not filled within {GAP_TIMEOUT_S} s" for letter in gap_letters)


def _id(data: bytes) -> str:
    return from_avro(data).id
