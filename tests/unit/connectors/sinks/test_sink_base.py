"""BatchingSink: partial failure, retries, dead letters, flush by age, backpressure.

A fake batch writer replaces only the service call; everything else is the real sink.
"""
import asyncio
import datetime as dt
import random

import botocore.exceptions
import pytest
from prometheus_client import CollectorRegistry

from connectors.aws import EndpointUnreachable
from connectors.dead_letter import DeadLetter, FileDeadLetters, hour_partition, read_dead_letters
from connectors.sinks.base import BatchingSink, SinkBackpressureError, SinkConfig, SinkError, SinkFailure
from connectors.testing import ListDeadLetters, make_record
from pipelines.clock import FakeClock, SystemClock
from pipelines.records import Record, from_avro

SECRET = "4111-1111-1111-1111"


def record(rid: str, **payload) -> Record:
    return make_record(id=rid, partition_key=rid, event_time=1, payload={"card": SECRET, **payload})


def client_error(code: str) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "m"}}, "PutThings")


class ScriptedSink(BatchingSink[bytes]):
    """Ids decide the fate: bad* is invalid, flaky* is throttled twice, never* always fails.

    ``whole_call_errors`` are raised by the next calls, one per call, before looking at ids.
    """
    kind = "fake"

    def __init__(self, config: SinkConfig, whole_call_errors=(), **kwargs) -> None:
        super().__init__(config, encode=lambda r: r.id.encode(), client=object(), **kwargs)
        self.calls: list[list[str]] = []
        self.written: list[str] = []
        self.whole_call_errors = list(whole_call_errors)
        self.refusals: dict[str, int] = {}
        self.gate: asyncio.Event | None = None

    async def _write_batch(self, entries):
        self.calls.append([e.record.id for e in entries])
        if self.gate is not None:
            await self.gate.wait()
        if self.whole_call_errors:
            raise self.whole_call_errors.pop(0)
        refused = []
        for entry in entries:
            rid = entry.record.id
            if rid.startswith("bad"):
                refused.append(SinkFailure(entry, "ValidationException", "attribute 'card' has the wrong type"))
            elif rid.startswith("never") or (rid.startswith("flaky") and self.refusals.get(rid, 0) < 2):
                self.refusals[rid] = self.refusals.get(rid, 0) + 1
                refused.append(SinkFailure(entry, "ProvisionedThroughputExceededException"))
            else:
                self.written.append(rid)
        return refused


def config(**overrides) -> SinkConfig:
    base = dict(max_batch_records=100, max_age_s=5.0, max_attempts=5, backoff_base_s=0.1, backoff_cap_s=1.0,
                max_buffered_records=1000)
    return SinkConfig(**{**base, **overrides})


async def test_only_failed_entries_are_retried_and_the_rest_are_dead_lettered():
    clock, dlq, registry = FakeClock(), ListDeadLetters(), CollectorRegistry()
    sink = ScriptedSink(config(), whole_call_errors=[client_error("ThrottlingException")], dead_letters=dlq,
                        clock=clock, rng=random.Random(7), registry=registry)
    ids = ["ok1", "flaky1", "bad1", "ok2", "never1"]
    for rid in ids:
        await sink.add(record(rid))
    await sink.flush()

    assert sink.calls == [ids, ids, ["flaky1", "never1"], ["flaky1", "never1"], ["never1"]]
    assert sorted(sink.written) == ["flaky1", "ok1", "ok2"]
    assert len(clock.slept) == 4
    for retry, slept in enumerate(clock.slept, start=1):
        assert 0 <= slept <= min(1.0, 0.1 * 2 ** (retry - 1))
    letters = {from_avro(letter.data).id: letter for letter in dlq.letters}
    assert set(letters) == {"bad1", "never1"}
    assert letters["bad1"].attempts == 2 and letters["bad1"].error_type == "ValidationException"
    assert "rejected as invalid" in letters["bad1"].reason
    assert letters["never1"].attempts == 5 and "gave up after 5 attempts" in letters["never1"].reason
    assert letters["never1"].source == "fake id=never1" and letters["never1"].time == clock.time()
    assert all(SECRET not in letter.reason for letter in dlq.letters)
    assert dlq.flushes == 1
    assert registry.get_sample_value("shardline_sink_records_written_total", {"sink": "fake"}) == 3
    assert registry.get_sample_value("shardline_sink_records_dead_lettered_total",
                                     {"sink": "fake", "error_type": "ValidationException"}) == 1


async def test_invalid_records_go_straight_to_dead_letters_without_retry():
    clock, dlq = FakeClock(), ListDeadLetters()
    sink = ScriptedSink(config(), dead_letters=dlq, clock=clock, registry=CollectorRegistry())
    for rid in ("ok1", "bad1", "ok2"):
        await sink.add(record(rid))
    await sink.flush()
    assert sink.calls == [["ok1", "bad1", "ok2"]] and clock.slept == []
    assert [(from_avro(l.data).id, l.attempts) for l in dlq.letters] == [("bad1", 1)]


async def test_records_that_cannot_be_encoded_or_are_too_large_are_dead_lettered_at_add():
    dlq = ListDeadLetters()
    sink = ScriptedSink(config(max_batch_bytes=10), dead_letters=dlq, clock=FakeClock(), registry=CollectorRegistry())
    sink._encode = lambda r: r.id.encode() if r.id != "boom" else 1 / 0
    await sink.add(record("boom"))
    await sink.add(record("x" * 11))
    await sink.flush()
    assert sink.calls == []
    assert [(l.error_type, l.attempts) for l in dlq.letters] == [("SerializationException", 0), ("RecordTooLarge", 0)]
    assert "ZeroDivisionError" in dlq.letters[0].reason


async def test_without_dead_letters_one_sink_error_carries_every_failure():
    sink = ScriptedSink(config(max_attempts=2), clock=FakeClock(), registry=CollectorRegistry())
    for rid in ("ok1", "bad1", "never1", "bad2"):
        await sink.add(record(rid))
    with pytest.raises(SinkError) as raised:
        await sink.flush()
    assert sorted(f.record.id for f in raised.value.failures) == ["bad1", "bad2", "never1"]
    assert {f.error_type for f in raised.value.failures} == {"ValidationException",
                                                             "ProvisionedThroughputExceededException"}
    assert "3 record(s)" in str(raised.value) and SECRET not in str(raised.value)
    assert SECRET not in repr(raised.value.failures)
    assert sink.written == ["ok1"]


async def test_flush_by_age_on_the_injected_clock():
    clock = FakeClock()
    sink = ScriptedSink(config(max_age_s=5.0), clock=clock, registry=CollectorRegistry())
    await sink.add(record("a"))
    clock.advance(4.9)
    assert await sink.tick() is False
    await sink.add(record("b"))
    assert sink.calls == []
    clock.advance(0.1)
    assert await sink.tick() is True
    assert sink.calls == [["a", "b"]]
    # add() checks the age too: the age counts from the oldest record of the new batch
    await sink.add(record("c"))
    clock.advance(6)
    await sink.add(record("d"))
    assert sink.calls == [["a", "b"], ["c", "d"]]
    assert await sink.tick() is False


async def test_background_task_flushes_an_idle_sink():
    sink = ScriptedSink(config(max_age_s=0.05), clock=SystemClock(), registry=CollectorRegistry())
    async with sink:
        await sink.add(record("a"))
        for _ in range(100):
            if sink.calls:
                break
            await asyncio.sleep(0.01)
        assert sink.calls == [["a"]]


async def test_backpressure_while_a_flush_is_in_progress():
    sink = ScriptedSink(config(max_batch_records=2, max_buffered_records=2), clock=FakeClock(),
                        registry=CollectorRegistry())
    sink.gate = asyncio.Event()
    await sink.add(record("r1"))
    flushing = asyncio.create_task(sink.add(record("r2")))  # a full batch: add() flushes, the write blocks
    await asyncio.sleep(0)
    await sink.add(record("r3"))
    await sink.add(record("r4"))
    with pytest.raises(SinkBackpressureError) as raised:
        await sink.add(record("r5"))
    assert raised.value.retry_after > 0
    sink.gate.set()
    await flushing
    await sink.flush()
    assert sink.written == ["r1", "r2", "r3", "r4"]


async def test_backpressure_while_flushes_fail_then_nothing_is_lost():
    clock = FakeClock()
    sink = ScriptedSink(config(max_batch_records=2, max_buffered_records=3, backoff_cap_s=1.0),
                        whole_call_errors=[client_error("ResourceNotFoundException")], clock=clock,
                        registry=CollectorRegistry())
    await sink.add(record("r1"))
    with pytest.raises(SinkError, match="ResourceNotFoundException. does it exist"):
        await sink.add(record("r2"))
    await sink.add(record("r3"))  # buffered again behind r1, r2
    with pytest.raises(SinkBackpressureError) as raised:
        await sink.add(record("r4"))
    assert raised.value.retry_after == pytest.approx(1.0)
    clock.advance(1.0)
    await sink.add(record("r4"))  # the backoff has passed: add() flushes to make room
    await sink.flush()
    assert sink.written == ["r1", "r2", "r3", "r4"]


async def test_unreachable_endpoint_keeps_records_for_the_next_flush():
    down = botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    sink = ScriptedSink(config(max_attempts=3), whole_call_errors=[down] * 3, clock=FakeClock(),
                        registry=CollectorRegistry())
    await sink.add(record("a"))
    with pytest.raises(EndpointUnreachable, match="cannot reach fake"):
        await sink.flush()
    assert sink.written == []
    await sink.flush()
    assert sink.written == ["a"]


async def test_file_dead_letters_round_trip_masked(tmp_path):
    path = tmp_path / "dlq" / "letters.jsonl"
    store = FileDeadLetters(path, mask=lambda data: b"masked:" + data[:2])
    letter = DeadLetter(reason="r", error_type="E", source="file:in.jsonl:line 12", attempts=3, data=b"\x00\xffsecret",
                        time=1.5)
    await store.put(letter)
    await store.close()
    assert list(read_dead_letters(path)) == [DeadLetter("r", "E", "file:in.jsonl:line 12", 3, b"masked:\x00\xff", 1.5)]
    path.write_text(path.read_text() + "not json\n")
    with pytest.raises(ValueError, match="line 2"):
        list(read_dead_letters(path))


@pytest.mark.parametrize("epoch_s", [0, 1767225600.5, 1767229199.999, 1767229200, -1.5, 1e10])
def test_hour_partitions_are_the_utc_hour_of_the_time(epoch_s):
    when = dt.datetime.fromtimestamp(epoch_s, tz=dt.timezone.utc)
    assert hour_partition(epoch_s) == f"dt={when:%Y-%m-%d}/hour={when:%H}"


@pytest.mark.parametrize("epoch_s", [float("inf"), float("nan"), 1e20])
def test_a_time_outside_the_calendar_raises_what_fromtimestamp_raises(epoch_s):
    with pytest.raises((OverflowError, OSError, ValueError)):
        hour_partition(epoch_s)
