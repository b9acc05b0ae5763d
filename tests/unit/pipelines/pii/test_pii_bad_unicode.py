"""Bad Unicode input never stops a PII run, on any engine (issue 15): lone surrogates, bytes that are not UTF-8,
1 MiB notes and full-width card numbers, between good records.

Each engine must go on past the bad record (the good records after it are masked and written), mask it or
dead-letter it with a reason that says what was wrong without quoting it, and leave no canary PII in any
output, dead letter, log line or message.  The PyFlink job runs the same records end to end in
``tests/e2e/test_pii_job.py``; here its Python functions (``MaskPayload``, ``MaskLetter``) get them as the Java
format hands them over.
"""
from __future__ import annotations

import asyncio
import base64
import io
import json
import logging

import pytest
from amazon_kclpy import messages
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from connectors.dead_letter import FileDeadLetters, read_dead_letters
from connectors.kcl.processor import PipelineRecordProcessor, record_pipeline
from connectors.sinks.file import FileSink
from connectors.testing import ScriptedConsumer
from jobs.cli import app
from jobs.local.runner import run_stream
from pipelines.clock import FakeClock
from pipelines.engine import RecordPath, Rejected
from pipelines.pii import builtin_policy
from pipelines.pii.dead_letters import DeadLetterMask
from pipelines.pii.pipeline import masking_pipeline, reset_default_pipeline
from pipelines.records import LONE_SURROGATE, from_avro, from_json_line, payload_to_json, read_avro_file
from tests.pii_bad_unicode import (FULL_WIDTH_NOTE, MIB, bad_lines, full_width_leaks, good_data,
                                   good_line, kinesis_data)

KEYS = {"SHARDLINE_PII_HMAC_KEY": "ab" * 32, "SHARDLINE_PII_FPE_KEY": "cd" * 16}
SURROGATE_REASON = f"field 'payload.notes': {LONE_SURROGATE}"
runner = CliRunner()


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    for key, value in KEYS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SHARDLINE_PII_POLICY", raising=False)
    reset_default_pipeline()   # mask_record reads the environment again
    yield
    reset_default_pipeline()


@pytest.fixture(scope="module")
def reference():
    return masking_pipeline(builtin_policy("payments", environ=KEYS))


@pytest.fixture(scope="module")
def kinesis(reference):
    return kinesis_data(reference)


def interleaved(bad: dict[str, bytes], good) -> tuple[list[bytes], dict[int, str]]:
    """good, bad, good, bad, ..., good: the items, and each bad one's index by name."""
    items, where = [good(0)], {}
    for n, (name, data) in enumerate(bad.items(), start=1):
        where[len(items)] = name
        items += [data, good(n)]
    return items, where


def assert_full_width_card_masked(notes: str) -> None:
    assert notes != FULL_WIDTH_NOTE and full_width_leaks({"notes": notes}) == []
    assert "CREDIT_CARD" in notes or "4111" in notes  # tokenized (keep_bin_last4) or redacted, never in clear


# --- shardline pii mask ----------------------------------------------------------------------------

def test_pii_mask_masks_or_dead_letters_every_bad_line_and_goes_on(tmp_path):
    lines, where = interleaved(bad_lines(), good_line)
    source, out, dlq = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "dlq.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    result = runner.invoke(app, ["pii", "mask", "--policy", "payments", "--input", str(source), "--output", str(out),
                                 "--dlq", str(dlq), "--json"])
    assert result.exit_code == 2, result.output   # some lines are dead letters: exit 2 after the last line
    assert result.exception is None or isinstance(result.exception, SystemExit)
    summary = json.loads(result.stdout.splitlines()[0])
    assert (summary["lines"], summary["masked"], summary["dead_lettered"]) == (9, 7, 2)

    masked = {json.loads(line)["id"]: json.loads(line) for line in out.read_bytes().splitlines()}
    assert sorted(masked) == sorted([f"good-{n}" for n in range(5)] + ["big-note", "full-width"])
    assert list(masked) == [json.loads(lines[i].decode("utf-8", "replace"))["id"] for i in range(len(lines))
                            if where.get(i) not in ("surrogate", "not_utf8")], "same order"
    assert_full_width_card_masked(masked["full-width"]["payload"]["notes"])
    assert len(masked["big-note"]["payload"]["notes"]) >= MIB - 1024

    letters = {letter.source: letter for letter in read_dead_letters(dlq)}
    surrogate, not_utf8 = (letters[f"file:in.jsonl:line {i + 1}"] for i in sorted(where)
                           if where[i] in ("surrogate", "not_utf8"))
    assert (surrogate.error_type, surrogate.reason) == ("RecordValidationError", SURROGATE_REASON)
    assert not_utf8.error_type == "MaskingError" and not_utf8.reason.startswith("not valid UTF-8 (invalid byte at")
    assert all(letter.data for letter in letters.values()), "masked, not withheld"
    assert full_width_leaks({"output": out.read_bytes(), "dead letters": dlq.read_bytes(),
                             "console": result.output}) == []


# --- shardline run --pipeline pipelines.pii.pipeline:mask_record -------------------------------------

@pytest.mark.parametrize("suffix", [".jsonl", ".avro"])
def test_the_local_runner_dead_letters_what_cannot_be_written_and_goes_on(tmp_path, suffix):
    lines, where = interleaved(bad_lines(), good_line)
    source, out, dlq = tmp_path / "in.jsonl", tmp_path / f"out{suffix}", tmp_path / "dlq.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    result = runner.invoke(app, ["run", "--pipeline", "pipelines.pii.pipeline:mask_record", "--input", str(source),
                                 "--output", str(out), "--dlq", str(dlq), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout.splitlines()[-1])
    assert (stats["read"], stats["written"], stats["dead_lettered"]) == (9, 6, 3)

    written = (list(read_avro_file(io.BytesIO(out.read_bytes()))) if suffix == ".avro"
               else [from_json_line(line) for line in out.read_bytes().splitlines()])
    assert [r.id for r in written] == [f"good-{n}" for n in range(4)] + ["full-width", "good-4"]
    assert_full_width_card_masked(next(r for r in written if r.id == "full-width").payload["notes"])

    letters = {letter.source: letter for letter in read_dead_letters(dlq)}
    by_name = {where[i]: letters[f"file:in.jsonl:line {i + 1}"] for i in where if where[i] != "full_width"}
    assert (by_name["surrogate"].error_type, by_name["surrogate"].reason) == ("RecordValidationError",
                                                                             SURROGATE_REASON)
    assert (by_name["not_utf8"].error_type, by_name["not_utf8"].reason) == ("RecordValidationError",
                                                                           "field '<record>': not valid UTF-8")
    # The masked 1 MiB note makes a record over what any stream takes: refused before any sink, as on Kinesis.
    assert by_name["big_note"].error_type == "RecordTooLarge"
    assert by_name["big_note"].reason.startswith("an output record is ")
    assert all(letter.data for letter in letters.values()), "masked, not withheld"
    assert full_width_leaks({"output": out.read_bytes(), "dead letters": dlq.read_bytes(),
                             "console": result.output}) == []


# --- Kinesis: the local runner on a stream, and the KCL record processor --------------------------------

EXPECTED_ON_KINESIS = {  # name: (error_type, how the reason starts), or None: masked and written
    "surrogate_bytes": ("MaskingError", f"field 'notes': {LONE_SURROGATE}"),
    "surrogate_avro": ("RecordValidationError", "field '<record>': not a shardline Avro envelope (UnicodeDecodeError)"),
    "not_utf8_bytes": ("MaskingError", "payload is not valid UTF-8 (invalid byte at offset"),
    "not_utf8_avro": ("RecordValidationError", "field '<record>': not a shardline Avro envelope (UnicodeDecodeError)"),
    "full_width": None,
    "largest": None,
    "grows": ("RecordTooLarge", "an output record is "),
}


def check_kinesis_run(kinesis, reference, written: list, letters: dict, blobs: dict) -> None:
    """``written``: the records an engine wrote; ``letters``: its dead letters by the input's index."""
    data, where = interleaved(kinesis, lambda n: good_data(8)[n])
    path = RecordPath(reference)
    expected = [out for item in data for out in (path.from_bytes(item) if not isinstance(
        path.from_bytes(item), Rejected) else [])]
    assert written == expected   # every good record, the masked full-width note and the largest record
    assert len(written) == 8 + 2 and written[-1].id == "good-7"
    for index, name in where.items():
        if EXPECTED_ON_KINESIS[name] is None:
            assert index not in letters
            continue
        error_type, reason = EXPECTED_ON_KINESIS[name]
        letter = letters[index]
        assert (letter.error_type, letter.reason[:len(reason)]) == (error_type, reason), name
        rejected = path.from_bytes(data[index])
        assert (letter.error_type, letter.reason) == (rejected.error_type, rejected.reason), "as every engine"
        assert from_avro(letter.data).partition_key.startswith("acct-"), "still an envelope, for redrive"
    assert_full_width_card_masked(next(r for r in written if r.id == "full-width").payload["notes"])
    assert full_width_leaks(blobs) == []


def test_the_local_runner_on_a_stream_goes_on_past_every_bad_record(tmp_path, kinesis, reference, caplog):
    data, _ = interleaved(kinesis, lambda n: good_data(8)[n])
    consumer = ScriptedConsumer("payments", [ScriptedConsumer.batch("shardId-000000000000", data)])
    out, dlq = tmp_path / "out.avro", tmp_path / "dlq.jsonl"
    sink, letters = FileSink(out), FileDeadLetters(dlq, mask=DeadLetterMask())
    caplog.set_level(logging.DEBUG)

    async def run():
        try:
            return await run_stream(reference, consumer, [sink], dead_letters=letters, clock=FakeClock())
        finally:
            await sink.close()
            await letters.close()
    stats = asyncio.run(run())
    assert (stats.read, stats.written, stats.dead_lettered) == (len(data), 10, 5)
    assert consumer.checkpoints == [("shardId-000000000000", str(len(data)))], "past the bad records: no replay"
    by_index = {int(letter.source.rsplit("/", 1)[1]) - 1: letter for letter in read_dead_letters(dlq)}
    check_kinesis_run(kinesis, reference, list(read_avro_file(io.BytesIO(out.read_bytes()))), by_index,
                      {"output": out.read_bytes(), "dead letters": dlq.read_bytes(), "log": caplog.text})


def kcl_batch(data: list[bytes], first: int) -> messages.ProcessRecordsInput:
    return messages.ProcessRecordsInput({"action": "processRecords", "millisBehindLatest": 0, "records": [
        messages.Record({"action": "record", "data": base64.b64encode(item).decode(), "partitionKey": "k",
                         "sequenceNumber": str(first + i), "subSequenceNumber": 0,
                         "approximateArrivalTimestamp": 1_700_000_000_000}) for i, item in enumerate(data)]})


class Checkpointer:
    def __init__(self) -> None:
        self.at: list = []

    def checkpoint(self, sequence_number=None, sub_sequence_number=None) -> None:
        self.at.append("end of batch")


def test_the_kcl_processor_checkpoints_past_every_bad_record(tmp_path, kinesis, reference, caplog):
    data, _ = interleaved(kinesis, lambda n: good_data(8)[n])
    out, dlq = tmp_path / "out.avro", tmp_path / "dlq.jsonl"
    letters = FileDeadLetters(dlq, mask=DeadLetterMask())
    processor = PipelineRecordProcessor(record_pipeline(reference), FileSink(out), dead_letters=letters,
                                        clock=FakeClock(), registry=CollectorRegistry(), stream_name="payments")
    processor.initialize(messages.InitializeInput({"action": "initialize", "shardId": "shardId-000000000000",
                                                   "sequenceNumber": None, "subSequenceNumber": 0}))
    caplog.set_level(logging.DEBUG)
    checkpointer = Checkpointer()
    half = len(data) // 2
    for first, batch in ((1, data[:half]), (half + 1, data[half:])):   # a bad record in each batch
        kcl_batch(batch, first).dispatch(checkpointer, processor)      # SystemExit here would stop the worker
    processor.close()
    # Every batch checkpointed: a restarted worker does not meet the bad records again (no restart loop).
    assert checkpointer.at == ["end of batch"] * 2
    by_index = {int(letter.source.rsplit("/", 1)[1]) - 1: letter for letter in read_dead_letters(dlq)}
    check_kinesis_run(kinesis, reference, list(read_avro_file(io.BytesIO(out.read_bytes()))), by_index,
                      {"output": out.read_bytes(), "dead letters": dlq.read_bytes(), "log": caplog.text})


# --- the PyFlink job's Python functions ----------------------------------------------------------------

def test_the_flink_job_s_functions_mask_or_refuse_with_every_engine_s_reason(kinesis, reference):
    pii_job = pytest.importorskip("jobs.flink.pii_job")
    mask_payload, mask_letter = pii_job.MaskPayload(setup=None), pii_job.MaskLetter()
    mask_payload.masking = reference   # what open() builds on a worker
    path = RecordPath(reference)
    for name, data in kinesis.items():
        outcome = path.from_bytes(data)
        letter = mask_letter.eval(data)
        assert from_avro(letter).partition_key.startswith("acct-") and full_width_leaks({name: letter}) == []
        if isinstance(outcome, Rejected) and outcome.step == "decode":
            continue   # refused by the Java format, before any Python: tests/e2e/test_pii_job.py
        record = from_avro(data)
        payload, error_type, reason = mask_payload.eval(payload_to_json(record.payload))
        if isinstance(outcome, Rejected) and outcome.step == "pipeline":
            assert (payload, error_type, reason) == (None, outcome.error_type, outcome.reason), name
        else:   # masked (the output's size is Java's to check: "grows" is refused there)
            assert error_type is None and payload == payload_to_json(reference(record).payload), name
            assert full_width_leaks({name: payload}) == []
    masked = mask_payload.eval(payload_to_json(from_avro(kinesis["full_width"]).payload))[0]
    assert_full_width_card_masked(json.loads(masked)["notes"])
