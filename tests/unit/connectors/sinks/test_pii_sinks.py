"""The PII outputs' parts: OpenSearch bulk lines, FanOut, S3 dead letters flushed concurrently."""
import asyncio
import json

import pytest

from connectors.dead_letter import DeadLetter, S3DeadLetters
from connectors.sinks.fanout import FanOut
from connectors.sinks.opensearch import check_index_name, opensearch_bulk
from connectors.sinks.types import SinkBackpressureError
from connectors.testing import ListSink, make_record
from pipelines.records import Record, from_json_line


def record(i: int = 1, **fields) -> Record:
    return make_record(i, **{"source": "s", "partition_key": "k", "event_time": 5, "payload": {"n": i, "b": b"\x00"},
                             **fields})


def test_bulk_lines_are_an_action_and_the_document_each_newline_terminated():
    body = opensearch_bulk("payments")(record()) + opensearch_bulk("payments")(record(2))
    lines = body.decode().split("\n")
    assert lines[-1] == "" and len(lines) == 5
    assert json.loads(lines[0]) == {"index": {"_index": "payments", "_id": "r1"}}
    assert from_json_line(lines[1]) == record()
    assert json.loads(lines[2])["index"]["_id"] == "r2"


def test_bulk_encoder_checks_the_index_name_and_the_id_length():
    for bad in ("Payments", "a b", "_x", "a:b", ""):
        with pytest.raises(ValueError, match="index name"):
            check_index_name(bad)
    with pytest.raises(ValueError, match="bulk action"):
        opensearch_bulk("ok", action="delete")
    with pytest.raises(ValueError, match="_id limit"):
        opensearch_bulk("ok")(record(id="x" * 513))
    assert json.loads(opensearch_bulk("ok", action="create")(record(id='quote"d')).split(b"\n")[0]) == \
        {"create": {"_index": "ok", "_id": 'quote"d'}}


class PushBack(ListSink):
    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times

    async def add(self, item) -> None:
        if self.times:
            self.times -= 1
            raise SinkBackpressureError(0.01)
        await super().add(item)


async def test_fanout_gives_every_sink_each_record_once_even_when_one_pushes_back():
    first, slow, last = ListSink(), PushBack(times=2), ListSink()
    fan = FanOut([first, slow, last])
    one = record()
    for _ in range(2):
        with pytest.raises(SinkBackpressureError):
            await fan.add(one)
    await fan.add(one)
    await fan.add(record(2))
    await fan.flush()
    await fan.close()
    assert [r.id for r in first.records] == [r.id for r in slow.records] == [r.id for r in last.records] == ["r1", "r2"]
    assert first.closed and slow.closed and last.closed


class SlowS3:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def put_object(self, Bucket, Key, Body, ContentType):
        await asyncio.sleep(0.01)
        self.bodies.append(Body)


async def test_s3_dead_letters_flushed_by_many_sinks_at_once_are_written_once_and_none_is_lost():
    s3 = SlowS3()
    store = S3DeadLetters("bucket", client=s3)
    await store.put(DeadLetter("bad", "X", "src", 1, b"first", 1.0))

    async def put_while_flushing() -> None:
        await asyncio.sleep(0.005)
        await store.put(DeadLetter("bad", "X", "src", 1, b"second", 1.0))

    await asyncio.gather(store.flush(), store.flush(), store.flush(), put_while_flushing())
    await store.flush()
    letters = [DeadLetter.from_json(line).data for body in s3.bodies for line in body.splitlines()]
    assert sorted(letters) == [b"first", b"second"]
