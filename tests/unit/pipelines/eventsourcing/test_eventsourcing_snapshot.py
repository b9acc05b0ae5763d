"""Snapshot and restore: a pattern restored at any cut goes on exactly like one that never stopped."""
import json
import random

import pytest

from pipelines.clock import FakeClock
from pipelines.eventsourcing.config import EventSourcingConfig
from pipelines.eventsourcing.pattern import EventSourcingPattern
from pipelines.eventsourcing.snapshots import SnapshotFormatError, decode_snapshot, encode_snapshot
from pipelines.eventsourcing.synthetic import BankStreamConfig, generate_bank_stream

CONFIG = EventSourcingConfig(gap_timeout_s=20, remembered_event_ids=3, large_withdrawal=5000)
FAULTS = dict(refused_rate=0.1, duplicate_rate=0.1, swap_rate=0.2, gap_rate=0.3, bad_rate=0.05)


def feed(pattern, payloads, start, stop):
    """Records ``start`` to ``stop``, the clock moving 1 to 3 s after each: a gap times out within about ten
    records, so some do mid-stream, and a cut falls among waits."""
    outputs = []
    for number in range(start, stop):
        outputs += pattern.on_payload(payloads[number])
        pattern.clock.advance(1 + number % 3)
        if number % 7 == 0:
            outputs += pattern.tick()
    return outputs


def through_json(pattern):
    return json.loads(json.dumps(pattern.snapshot()))


def through_avro(pattern):
    snapshot = decode_snapshot(encode_snapshot(pattern, {"shardId-1": "7-0"}, taken_at_ms=5, stream="events"))
    assert (snapshot.positions, snapshot.taken_at_ms, snapshot.stream) == ({"shardId-1": "7-0"}, 5, "events")
    return snapshot.state


@pytest.mark.parametrize("stored", [through_json, through_avro])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_snapshot_at_a_random_cut_then_restore_then_the_rest_equals_an_uninterrupted_run(seed, stored):
    payloads = [p for p, _ in generate_bank_stream(BankStreamConfig(accounts=10, seed=seed, **FAULTS)).records]
    whole = EventSourcingPattern(CONFIG, clock=FakeClock(0))
    expected = feed(whole, payloads, 0, len(payloads)) + whole.finish()
    assert whole.stats.gap_timeouts > 0  # the cut falls among waits and timeouts, not after them

    held = 0
    for cut in random.Random(seed).sample(range(len(payloads) + 1), 3):
        clock = FakeClock(0)
        first = EventSourcingPattern(CONFIG, clock=clock)
        before = feed(first, payloads, 0, cut)
        held += sum(len(a.held) for a in first.aggregates.values())
        state = stored(first)  # what an engine stores
        resumed = EventSourcingPattern(CONFIG, clock=FakeClock(clock.time()))
        resumed.restore(state)
        after = feed(resumed, payloads, cut, len(payloads)) + resumed.finish()
        assert before + after == expected, f"cut at {cut}"
        assert resumed.projections() == whole.projections()
        assert resumed.branch_totals() == whole.branch_totals()
        assert resumed.stats == whole.stats
        assert resumed.snapshot() == whole.snapshot()
    assert held > 0  # some cut fell while an aggregate waited


def test_a_snapshot_of_another_version_is_refused_with_what_to_do():
    pattern = EventSourcingPattern(CONFIG, clock=FakeClock(0))
    with pytest.raises(ValueError, match="rebuild the projections"):
        pattern.restore({**pattern.snapshot(), "version": 0})


def test_bytes_that_are_no_snapshot_and_a_snapshot_of_another_format_are_refused():
    pattern = EventSourcingPattern(CONFIG, clock=FakeClock(0))
    with pytest.raises(SnapshotFormatError, match="not an event-sourcing snapshot"):
        decode_snapshot(b"{}")
    data = encode_snapshot(pattern, {}, taken_at_ms=0).replace(b'"format":2', b'"format":1')
    with pytest.raises(SnapshotFormatError, match="rebuild the projections"):
        decode_snapshot(data)
