import json

import pytest

from connectors.dead_letter import read_dead_letters
from connectors.testing import make_record
from jobs.local.runner import BadRecordError, FileRunConfig, load_pipeline, run_file
from pipelines.records import Record, from_json_line, read_avro_file, to_json_line


def good(i: int) -> str:
    return to_json_line(make_record(i, source="s", event_time=i, partition_key=f"k{i % 3}",
                                    payload={"n": i, "ssn": "123-45-6789"}))


def write_input(tmp_path, lines):
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def double(record: Record):
    return [record, record]


def drop_odd(record: Record):
    return None if record.payload["n"] % 2 else record


async def test_malformed_lines_go_to_dead_letters_with_line_numbers(tmp_path):
    source = write_input(tmp_path, [good(1), '{"id": "broken", ', good(2), '{"type": "t"}', good(3)])
    out = tmp_path / "out.jsonl"
    stats = await run_file(load_pipeline("jobs.local.runner:identity"), FileRunConfig(input=source, output=out))
    assert stats.as_dict()["read"] == 5 and stats.written == 3 and stats.dead_lettered == 2
    assert [from_json_line(line).id for line in out.read_text().splitlines()] == ["r1", "r2", "r3"]
    letters = list(read_dead_letters(tmp_path / "out.jsonl.dlq.jsonl"))
    assert [letter.source for letter in letters] == ["file:in.jsonl:line 2", "file:in.jsonl:line 4"]
    assert "malformed JSON" in letters[0].reason, "the position is in the source, the reason says what is wrong"
    assert "field 'source'" in letters[1].reason
    assert letters[0].data == b'{"id": "broken", '  # nothing lost: the original bytes are kept


async def test_dead_letters_never_store_the_pii_of_a_bad_line(tmp_path):
    source = write_input(tmp_path, ['{"ssn": "123-45-6789", "email": "ada@example.com", ', good(1)])
    await run_file(load_pipeline("jobs.local.runner:identity"), FileRunConfig(input=source, output=tmp_path / "o.jsonl"))
    [letter] = read_dead_letters(tmp_path / "o.jsonl.dlq.jsonl")
    assert b"123-45-6789" not in letter.data and b"123456789" not in letter.data
    assert b"ada@example.com" not in letter.data and b'"ssn"' in letter.data  # the shape survives for redrive


async def test_fail_mode_stops_at_the_first_bad_line_without_quoting_it(tmp_path):
    source = write_input(tmp_path, [good(1), '{"ssn": "123-45-6789", ', good(2)])
    with pytest.raises(BadRecordError) as caught:
        await run_file(load_pipeline("jobs.local.runner:identity"),
                       FileRunConfig(input=source, output=tmp_path / "o.jsonl", on_error="fail"))
    assert "line 2" in str(caught.value)
    assert "123-45-6789" not in str(caught.value)


async def test_pipeline_errors_are_dead_lettered_and_fan_out_and_filters_are_counted(tmp_path):
    source = write_input(tmp_path, [good(i) for i in range(4)])
    out = tmp_path / "out.avro"
    stats = await run_file(double, FileRunConfig(input=source, output=out))
    with open(out, "rb") as fo:
        assert len(list(read_avro_file(fo))) == 8
    stats = await run_file(drop_odd, FileRunConfig(input=out, output=tmp_path / "even.jsonl"))
    assert (stats.read, stats.written, stats.filtered) == (8, 4, 4)

    def explode(record):
        raise KeyError("missing")

    stats = await run_file(explode, FileRunConfig(input=source, output=tmp_path / "x.jsonl",
                                                  dead_letters=tmp_path / "dlq.jsonl"))
    assert stats.dead_lettered == 4
    assert {json.loads(line)["error_type"] for line in (tmp_path / "dlq.jsonl").read_text().splitlines()} == {"KeyError"}


def test_bad_pipeline_spec_and_on_error_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="package.module:function"):
        load_pipeline("nonsense")
    with pytest.raises(ValueError, match="cannot load pipeline"):
        load_pipeline("jobs.local.runner:nope")
    with pytest.raises(ValueError, match="on_error"):
        FileRunConfig(input=tmp_path, on_error="ignore")
