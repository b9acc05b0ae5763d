"""One record path: the same bad records give the same dead letters on the local runner, KCL and Flink.

Each engine's host runs in-process with its I/O replaced: the runner over a
scripted consumer, the KCL processor driven with amazon-kclpy's own messages,
the PyFlink operator called as Flink calls it.  The records are rejected by
the shared ``RecordPath``, so error type, reason and step agree; all three
name the source in one form (``kinesis:<stream>/<shard>/<sequence>``).
"""
import pytest

from pipelines.records import Record, to_avro, validate
from tests.engine_hosts import ENGINES, SHARD, STREAM
CANARY = "jane.canary@example.com"


def envelope(kind: str, **changes) -> bytes:
    record = validate({"id": f"r-{kind}", "type": "order", "source": "shop", "event_time": 1_700_000_000_000,
                       "partition_key": CANARY, "payload": {"kind": kind, "email": CANARY}})
    return to_avro(Record(**{**record.as_dict(), **changes}))


def pipeline(record: Record):
    kind = record.payload["kind"]
    if kind == "raise":
        raise ValueError(f"cannot ship to {record.payload['email']}")   # PII in the message
    if kind == "big":
        return Record(**{**record.as_dict(), "payload": {"blob": b"x" * (1024 * 1024)}})
    return record


BAD = {
    "not an envelope": b"not an envelope",
    "a missing field": envelope("missing", source=""),
    "a raising pipeline": envelope("raise"),
    "an oversized output": envelope("big"),
}
EXPECTED = {
    "not an envelope": ("RecordValidationError", "field '<record>': not a shardline Avro envelope (EOFError)"),
    "a missing field": ("RecordValidationError", "field 'source': must be a non-empty string"),
    "a raising pipeline": ("ValueError", "the pipeline raised ValueError"),
    "an oversized output": ("RecordTooLarge", "an output record is 1048660 bytes (envelope and partition key); "
                                              "a Kinesis record holds at most 1048576"),
}
DATAS = [envelope("good"), *BAD.values()]


@pytest.fixture(scope="module")
def letters_by_engine():
    by_engine = {}
    for engine, run in ENGINES.items():
        outputs, letters = run(pipeline, DATAS)
        assert len(outputs) == 1, f"{engine} wrote the good record"
        by_engine[engine] = letters
    return by_engine


@pytest.mark.parametrize("engine", ["local", "kcl", "flink"])
def test_every_engine_rejects_the_same_records_for_the_same_reasons(letters_by_engine, engine):
    letters = letters_by_engine[engine]
    assert [(letter.error_type, letter.reason) for letter in letters] == list(EXPECTED.values())


def test_every_engine_names_the_source_in_one_form(letters_by_engine):
    expected = [f"kinesis:{STREAM}/{SHARD}/{2 + i}" for i in range(len(BAD))]
    for engine in ("local", "kcl", "flink"):
        assert [letter.source for letter in letters_by_engine[engine]] == expected, engine


@pytest.mark.parametrize("engine", ["local", "kcl", "flink"])
def test_no_dead_letter_leaks_the_pii_a_pipeline_put_in_its_exception(letters_by_engine, engine):
    for letter in letters_by_engine[engine]:
        assert CANARY not in letter.reason and CANARY not in letter.source
        assert CANARY.encode() not in letter.data, "letters are stored masked"


async def test_an_offline_replay_does_not_leak_the_raising_pipelines_message_either(tmp_path):
    from connectors.dead_letter import read_dead_letters
    from jobs.local.runner import FileRunConfig, run_file
    from pipelines.records import from_avro, to_json_line

    source = tmp_path / "in.jsonl"
    source.write_text(to_json_line(from_avro(envelope("raise"))) + "\n")
    stats = await run_file(pipeline, FileRunConfig(input=source, output=tmp_path / "out.jsonl"))
    [letter] = read_dead_letters(tmp_path / "out.jsonl.dlq.jsonl")
    assert stats.dead_lettered == 1 and (letter.error_type, letter.reason) == EXPECTED["a raising pipeline"]
    assert CANARY not in letter.reason


async def test_a_mask_that_fails_withholds_the_data_but_keeps_the_letter(tmp_path):
    from connectors.dead_letter import DeadLetter, FileDeadLetters, read_dead_letters

    def broken(data: bytes) -> bytes:
        raise RecursionError("too deep")

    store = FileDeadLetters(tmp_path / "dlq.jsonl", mask=broken)
    await store.put(DeadLetter("field 'ssn': not valid UTF-8", "MaskingError", "kinesis:s/shard/1", 1,
                               CANARY.encode(), 0.0))
    await store.close()
    [letter] = read_dead_letters(tmp_path / "dlq.jsonl")
    assert letter.data == b"" and store.withheld == 1
    assert letter.reason.startswith("field 'ssn': not valid UTF-8") and "withheld" in letter.reason
    assert (letter.error_type, letter.source) == ("MaskingError", "kinesis:s/shard/1")


def test_a_path_whose_engine_checks_sizes_itself_leaves_an_oversized_output_to_it():
    """The Flink SQL path checks each output's size in Java (``kinesis_record_fit``, the same reason as above),
    so its Python step does not measure it again."""
    from pipelines.engine import RecordPath, Rejected
    from pipelines.records import from_avro

    record = from_avro(envelope("big"))
    assert isinstance(RecordPath(pipeline).from_record(record), Rejected)
    outputs = RecordPath(pipeline, max_output_bytes=None).from_record(record)
    assert [len(output.payload["blob"]) for output in outputs] == [1024 * 1024]
