import io
import math

import pytest

from pipelines.recording import (RecordedRecord, parse_speed, read_recording, replay_schedule,
                                 write_recording)


def rec(key, shard, seq, t_ms, sub=0):
    return RecordedRecord(data=f"{key}-{seq}".encode(), partition_key=key, shard_id=shard,
                          sequence_number=str(seq), arrival_time_ms=t_ms, sub_sequence_number=sub)


def test_recording_round_trip():
    records = [rec("a", "shardId-0", 10, 1000), rec("b", "shardId-1", 11, 1001, sub=2)]
    buffer = io.BytesIO()
    write_recording(buffer, records)
    buffer.seek(0)
    assert list(read_recording(buffer)) == records


def test_schedule_keeps_per_key_order_within_one_millisecond_and_scales_gaps():
    # Same arrival millisecond: sequence numbers decide; numeric, not lexical, order.
    records = [rec("a", "s0", 100, 5000), rec("a", "s0", 9, 5000), rec("b", "s1", 3, 7000),
               rec("a", "s0", 101, 5000, sub=1), rec("a", "s0", 101, 5000, sub=0)]
    schedule = replay_schedule(records, speed=10)
    keys_a = [(r.sequence_number, r.sub_sequence_number) for _, r in schedule if r.partition_key == "a"]
    assert keys_a == [("9", 0), ("100", 0), ("101", 0), ("101", 1)]
    assert schedule[-1][0] == pytest.approx(0.2)  # 2 s gap at 10x
    assert all(offset == 0 for offset, _ in replay_schedule(records, math.inf))


@pytest.mark.parametrize("text, expected", [("1", 1.0), ("10", 10.0), ("0.5", 0.5), ("max", math.inf)])
def test_parse_speed(text, expected):
    assert parse_speed(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "fast", "inf", "nan"])
def test_parse_speed_rejects_nonsense(text):
    with pytest.raises(ValueError, match="speed must be"):
        parse_speed(text)
