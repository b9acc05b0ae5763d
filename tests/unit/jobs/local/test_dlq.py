"""`shardline dlq`: summaries never show record contents; redrive sends records on in order and loses none."""
import json

from typer.testing import CliRunner

from connectors.dead_letter import DeadLetter, read_dead_letters
from connectors.testing import make_record
from jobs.cli import app
from jobs.local.dlq import iter_letters, letter_record, redrive
from pipelines.records import from_json_line, to_avro, to_json_line

runner = CliRunner()


def record(i: int, key: str):
    return make_record(i, type="payment", event_time=i, partition_key=key, payload={"n": i, "email": "***"})


def letter(data: bytes, error_type: str = "ThrottlingException", i: int = 0) -> DeadLetter:
    return DeadLetter(reason=f"{error_type} after 5 attempts", error_type=error_type, source=f"test:{i}",
                      attempts=5, data=data, time=1_767_225_600.0 + i)


def dead_letter_file(tmp_path):
    letters = [
        letter(to_avro(record(1, "a")), i=1),                                   # a sink's letter: Avro envelope
        letter(to_json_line(record(2, "b")).encode(), "KeyError", i=2),         # a file run's: JSON line
        letter(b'{"id": "r3", "type": ', "RecordValidationError", i=3),        # a malformed line: no record
        letter(b"\x00\x01\x02 not a record", "RecordValidationError", i=4),    # foreign bytes
        letter(to_avro(record(5, "a")), i=5),
    ]
    path = tmp_path / "in.dlq.jsonl"
    path.write_text("".join(x.to_json() + "\n" for x in letters))
    return path


def test_letter_record_knows_envelopes_from_bytes_that_only_happen_to_decode(tmp_path):
    kinds = [letter_record(x) for x in read_dead_letters(dead_letter_file(tmp_path))]
    assert [r.id if r else None for r in kinds] == ["r1", "r2", None, None, "r5"]
    trailing = to_avro(record(6, "c")) + b"\x07garbage"
    assert letter_record(letter(trailing)) is None  # Avro decodes it (the reader stops early); no envelope is this


def test_summary_counts_without_showing_data(tmp_path):
    source = dead_letter_file(tmp_path)
    result = runner.invoke(app, ["dlq", "summary", str(source), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["letters"], summary["redrivable"]) == (5, 3)
    assert summary["by_error_type"] == {"ThrottlingException": 2, "RecordValidationError": 2, "KeyError": 1}
    table = runner.invoke(app, ["dlq", "summary", str(source)])
    assert "5 dead letters, 3 redrivable" in table.stdout and "r1" not in table.stdout and "payment" not in table.stdout


def test_redrive_to_a_file_in_order_and_the_rest_kept(tmp_path):
    source, out, rest = dead_letter_file(tmp_path), tmp_path / "out.jsonl", tmp_path / "rest.dlq.jsonl"
    result = runner.invoke(app, ["dlq", "redrive", str(source), "--to", str(out), "--remaining", str(rest), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert (stats["read"], stats["redriven"], stats["not_a_record"], stats["failed_again"]) == (5, 3, 2, 0)
    assert [from_json_line(line).id for line in out.read_text().splitlines()] == ["r1", "r2", "r5"]
    assert [x.source for x in read_dead_letters(rest)] == ["test:3", "test:4"]  # nothing is lost


def test_error_type_filter_and_dry_run(tmp_path):
    source, out, rest = dead_letter_file(tmp_path), tmp_path / "out.jsonl", tmp_path / "rest.dlq.jsonl"
    dry = runner.invoke(app, ["dlq", "redrive", str(source), "--to", str(out), "--error-type", "ThrottlingException",
                              "--dry-run", "--remaining", str(rest), "--json"])
    assert json.loads(dry.stdout)["redriven"] == 2 and not out.exists() and not rest.exists()
    real = runner.invoke(app, ["dlq", "redrive", str(source), "--to", str(out), "--error-type", "ThrottlingException",
                               "--remaining", str(rest), "--json"])
    assert json.loads(real.stdout)["skipped_by_filter"] == 3
    assert [from_json_line(line).id for line in out.read_text().splitlines()] == ["r1", "r5"]
    assert [x.source for x in read_dead_letters(rest)] == ["test:2", "test:3", "test:4"]


class RefusingSink:
    """Dead-letters every record with an odd n, the way a sink does after its retries."""

    def __init__(self, dead_letters):
        self.dead_letters, self.accepted = dead_letters, []

    async def add(self, r):
        if r.payload["n"] % 2:
            await self.dead_letters.put(DeadLetter("refused", "ValidationException", "test-sink", 3, to_avro(r), 0.0))
        else:
            self.accepted.append(r.id)

    async def flush(self):
        await self.dead_letters.flush()

    async def close(self):
        pass


async def test_records_refused_again_become_dead_letters_of_the_redrive(tmp_path):
    made = []
    again = tmp_path / "again.dlq.jsonl"
    result = await redrive(iter_letters(str(dead_letter_file(tmp_path))), "unused", dead_letters=again,
                           sink_factory=lambda letters: made.append(RefusingSink(letters)) or made[-1])
    assert (result.redriven, result.failed_again) == (3, 2) and made[0].accepted == ["r2"]
    assert result.failed_again_file == str(again)
    assert [letter_record(x).id for x in read_dead_letters(again)] == ["r1", "r5"]


def test_bad_sources_and_destinations_are_clear_errors(tmp_path):
    missing = runner.invoke(app, ["dlq", "summary", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    source = dead_letter_file(tmp_path)
    bad_to = runner.invoke(app, ["dlq", "redrive", str(source), "--to", "ftp://x"])
    assert bad_to.exit_code == 2 and "--sink 'ftp://x'" in bad_to.output
    same = runner.invoke(app, ["dlq", "redrive", str(source), "--to", "x.jsonl", "--remaining", str(source)])
    assert same.exit_code == 2 and "must not be the source" in same.output
    (tmp_path / "junk.jsonl").write_text("not json\n")
    junk = runner.invoke(app, ["dlq", "summary", str(tmp_path / "junk.jsonl")])
    assert junk.exit_code == 2 and "line 1 is not a dead letter" in junk.output
