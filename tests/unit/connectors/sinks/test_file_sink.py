"""The file sink: what flush returned from is on disk (so a checkpoint after it holds), in both formats."""
import json

import fastavro

from connectors.sinks.file import FileSink
from connectors.testing import make_record
from jobs.local.runner import OUTPUT_FLUSH_RECORDS, FileRunConfig, run_file
from pipelines.records import from_json_line, read_avro_file, to_json_line


def record(i: int):
    return make_record(i, source="s", event_time=i)


def on_disk_avro(path):
    with open(path, "rb") as fo:
        return [r.payload["n"] for r in read_avro_file(fo)]


async def test_each_avro_flush_is_a_readable_block_before_close(tmp_path):
    path = tmp_path / "out.avro"
    sink = FileSink(path)
    for i in range(3):
        await sink.add(record(i))
    await sink.flush()
    assert on_disk_avro(path) == [0, 1, 2]  # the sink is still open: a crash now loses nothing flushed
    for i in range(3, 5):
        await sink.add(record(i))
    assert on_disk_avro(path) == [0, 1, 2]  # added, not flushed: not promised yet
    await sink.flush()
    await sink.close()
    assert on_disk_avro(path) == [0, 1, 2, 3, 4] and sink.count == 5


async def test_json_lines_append_unless_truncated_and_an_empty_run_leaves_a_valid_file(tmp_path):
    path = tmp_path / "out.jsonl"
    for truncate, expected in ((False, 2), (False, 4), (True, 2)):
        sink = FileSink(path, truncate=truncate)
        await sink.add(record(0))
        await sink.add(record(1))
        await sink.close()
        assert len(path.read_text().splitlines()) == expected
    empty = FileSink(tmp_path / "empty.avro")
    await empty.close()
    assert on_disk_avro(tmp_path / "empty.avro") == []


async def test_a_file_run_writes_avro_in_blocks_as_it_goes(tmp_path):
    n = OUTPUT_FLUSH_RECORDS * 2 + 7
    source = tmp_path / "in.jsonl"
    source.write_text("".join(to_json_line(record(i)) + "\n" for i in range(n)))
    out = tmp_path / "out.avro"
    stats = await run_file(lambda r: r, FileRunConfig(input=source, output=out))
    assert stats.written == n and on_disk_avro(out) == list(range(n))
    with open(out, "rb") as fo:
        blocks = sum(1 for _ in fastavro.block_reader(fo))
    assert blocks >= 3  # at least a block per flush (fastavro also cuts one every 16 KB), not one at the end
    out_json = tmp_path / "out.jsonl"
    await run_file(lambda r: r, FileRunConfig(input=source, output=out_json))
    await run_file(lambda r: r, FileRunConfig(input=source, output=out_json))  # a rerun replaces the file
    assert [from_json_line(line, 1).payload["n"] for line in out_json.read_text().splitlines()] == list(range(n))
    assert json.loads(out_json.read_text().splitlines()[0])["id"] == "r0"
