"""The CLI against the local stack: produce, consume, record, replay, bad input."""
import base64
import json
import uuid

import boto3
import pytest
from typer.testing import CliRunner

from connectors.dead_letter import read_dead_letters
from connectors.testing import make_record
from jobs.cli import app
from pipelines.recording import read_recording
from pipelines.records import from_avro, to_json_line, validate

pytestmark = pytest.mark.integration
runner = CliRunner()


def new_stream(shards: int = 2) -> str:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    result = runner.invoke(app, ["stream", "create", name, "--shards", str(shards)])
    assert result.exit_code == 0, result.output
    return name


def line(i: int, key: str) -> str:
    return to_json_line(make_record(i, source="cli-test", event_time=1000 + i, partition_key=key))


def consume_json(stream: str, count: int) -> list[dict]:
    result = runner.invoke(app, ["consume", "--stream", stream, "--json", "--count", str(count),
                                 "--idle-timeout", "10"])
    assert result.exit_code == 0, result.output
    return [json.loads(text) for text in result.stdout.splitlines() if text.startswith("{")]


def test_produce_file_with_bad_lines_then_consume(local_stack, tmp_path):
    stream = new_stream()
    source = tmp_path / "in.jsonl"
    lines = [line(i, f"k{i % 4}") for i in range(30)]
    lines.insert(10, '{"id": "broken"')
    source.write_text("\n".join(lines) + "\n")
    dlq = tmp_path / "dlq.jsonl"
    result = runner.invoke(app, ["produce", "--stream", stream, "--input", str(source), "--dlq", str(dlq),
                                 "--aggregate", "--json"])
    assert result.exit_code == 1, "published what it could, and says that something went to the dead letters"
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["produced"], summary["dead_lettered"]) == (30, 1)
    assert summary["dead_letters_by_error"] == {"RecordValidationError": 1}
    assert f"1 records went to {dlq}" in " ".join(result.stderr.split())
    [letter] = read_dead_letters(dlq)
    assert letter.source == "file:in.jsonl:line 11" and "malformed JSON" in letter.reason

    consumed = consume_json(stream, 30)
    assert sorted(c["record"]["id"] for c in consumed) == sorted(f"r{i}" for i in range(30))
    for key in ("k0", "k1", "k2", "k3"):  # per-key order survives batching and aggregation
        numbers = [c["record"]["payload"]["n"] for c in consumed if c["partition_key"] == key]
        assert numbers == sorted(numbers)


def test_on_error_fail_stops_at_the_bad_line(local_stack, tmp_path):
    stream = new_stream(1)
    source = tmp_path / "in.jsonl"
    source.write_text(line(1, "a") + "\nnot json\n" + line(2, "a") + "\n")
    result = runner.invoke(app, ["produce", "--stream", stream, "--input", str(source), "--on-error", "fail"])
    assert result.exit_code == 2
    assert "line 2" in result.output and "malformed JSON" in result.output


def test_oversized_record_is_dead_lettered_naming_its_key(local_stack, tmp_path):
    stream = new_stream(1)
    big = to_json_line(validate({"id": "big", "type": "t", "source": "s", "event_time": 1,
                                 "partition_key": "the-big-one", "payload": b"x" * (1024 * 1024 + 10)}))
    source = tmp_path / "in.jsonl"
    source.write_text(big + "\n" + line(1, "a") + "\n")
    dlq = tmp_path / "dlq.jsonl"
    result = runner.invoke(app, ["produce", "--stream", stream, "--input", str(source), "--dlq", str(dlq)])
    assert result.exit_code == 1, result.output
    [letter] = read_dead_letters(dlq)
    assert letter.error_type == "RecordTooLargeError" and "a Kinesis record holds at most 1048576" in letter.reason
    assert "the-big-one" not in letter.reason, "a partition key may be personal: the reason gives sizes only"


def test_bare_json_objects_are_wrapped_and_raw_lines_sent_as_they_are(local_stack, tmp_path):
    stream = new_stream(1)
    source = tmp_path / "clicks.jsonl"
    events = [{"user": f"u{i % 3}", "at": "2026-01-01T00:00:00Z", "page": f"/p{i}",
               **({"tags": ["a"]} if i % 2 else {})} for i in range(6)]
    source.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    result = runner.invoke(app, ["produce", "--stream", stream, "--input", str(source), "--key-field", "user",
                                 "--time-field", "at", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["produced"] == 6
    consumed = consume_json(stream, 6)
    records = [c["record"] for c in consumed]
    assert {r["type"] for r in records} == {"clicks"} and {r["event_time"] for r in records} == {1767225600000}
    assert sorted(c["partition_key"] for c in consumed) == sorted(e["user"] for e in events)
    flat = [r for r in records if isinstance(r["payload"], dict) and "page" in r["payload"]]
    assert len(flat) == 3, "flat objects become map payloads, nested ones their JSON as bytes"

    raw_stream = new_stream(1)
    result = runner.invoke(app, ["produce", "--stream", raw_stream, "--input", str(source), "--raw",
                                 "--key-field", "user"])
    assert result.exit_code == 0, result.output
    raw = consume_json(raw_stream, 6)
    assert sorted(base64.b64decode(r["data_base64"]) for r in raw) == sorted(json.dumps(e).encode() for e in events)
    assert sorted(r["partition_key"] for r in raw) == sorted(e["user"] for e in events)


def test_record_then_replay_keeps_every_record_and_key_order(local_stack, tmp_path):
    source_stream, copy_stream = new_stream(2), new_stream(3)
    result = runner.invoke(app, ["produce", "--stream", source_stream, "--synthetic", "telemetry",
                                 "--count", "300"])
    assert result.exit_code == 0, result.output
    capture = tmp_path / "capture.avro"
    result = runner.invoke(app, ["record", "--stream", source_stream, "--out", str(capture), "--from",
                                 "trim_horizon", "--count", "300", "--duration", "30"])
    assert result.exit_code == 0, result.output
    with open(capture, "rb") as fo:
        recorded = list(read_recording(fo))
    assert len(recorded) == 300
    assert all(r.shard_id.startswith("shardId-") and r.arrival_time_ms > 0 for r in recorded)

    result = runner.invoke(app, ["replay", str(capture), "--stream", copy_stream, "--speed", "max"])
    assert result.exit_code == 0, result.output
    replayed = consume_json(copy_stream, 300)
    assert sorted(c["record"]["id"] for c in replayed) == sorted(from_avro(r.data).id for r in recorded)
    by_key: dict[str, list[int]] = {}
    for c in replayed:
        by_key.setdefault(c["partition_key"], []).append(int(c["record"]["id"].rsplit("-", 1)[1]))
    assert all(ids == sorted(ids) for ids in by_key.values())


def test_unreachable_endpoint_names_the_variable(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    result = runner.invoke(app, ["consume", "--stream", "nowhere", "--count", "1"])
    assert result.exit_code == 2
    assert "AWS_ENDPOINT_URL_KINESIS" in result.output and "127.0.0.1:9" in result.output
