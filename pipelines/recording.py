"""Recorded streams: what `shardline record` captures and `shardline replay` re-publishes.

A recording is an Avro container file of Kinesis records as they arrived:
data, partition key, shard, sequence number and arrival time.  The replay
schedule is pure: it turns a recording into (offset from start, record) pairs,
scaled by a speed, that keep every partition key's order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import IO, Iterable, Iterator

import fastavro

RECORDING_SCHEMA = fastavro.parse_schema({
    "type": "record", "name": "RecordedKinesisRecord", "namespace": "shardline.recording",
    "fields": [
        {"name": "data", "type": "bytes"},
        {"name": "partition_key", "type": "string"},
        {"name": "explicit_hash_key", "type": ["null", "string"], "default": None},
        {"name": "shard_id", "type": "string"},
        {"name": "sequence_number", "type": "string"},
        {"name": "sub_sequence_number", "type": "long", "default": 0},
        {"name": "arrival_time_ms", "type": "long", "doc": "ApproximateArrivalTimestamp, epoch ms"},
    ],
})


@dataclass(frozen=True, slots=True)
class RecordedRecord:
    data: bytes
    partition_key: str
    shard_id: str
    sequence_number: str
    arrival_time_ms: int
    sub_sequence_number: int = 0
    explicit_hash_key: str | None = None


def write_recording(fo: IO[bytes], records: Iterable[RecordedRecord]) -> None:
    fastavro.writer(fo, RECORDING_SCHEMA, (
        {"data": r.data, "partition_key": r.partition_key, "explicit_hash_key": r.explicit_hash_key,
         "shard_id": r.shard_id, "sequence_number": r.sequence_number,
         "sub_sequence_number": r.sub_sequence_number, "arrival_time_ms": r.arrival_time_ms}
        for r in records), codec="deflate")


class RecordingAppender:
    """Appends blocks to an open recording as records arrive, so a crash keeps what was captured."""

    def __init__(self, fo: IO[bytes]) -> None:
        self._writer = fastavro.write.Writer(fo, RECORDING_SCHEMA, codec="deflate", sync_interval=64 * 1024)
        self.count = 0

    def append(self, record: RecordedRecord) -> None:
        self._writer.write({
            "data": record.data, "partition_key": record.partition_key,
            "explicit_hash_key": record.explicit_hash_key, "shard_id": record.shard_id,
            "sequence_number": record.sequence_number, "sub_sequence_number": record.sub_sequence_number,
            "arrival_time_ms": record.arrival_time_ms})
        self.count += 1

    def flush(self) -> None:
        self._writer.flush()


def read_recording(fo: IO[bytes]) -> Iterator[RecordedRecord]:
    for raw in fastavro.reader(fo, reader_schema=RECORDING_SCHEMA):
        yield RecordedRecord(**raw)


def parse_speed(text: str) -> float:
    """'1', '10', '0.5' or 'max' (as fast as possible) -> a factor; max is infinity."""
    if text == "max":
        return math.inf
    try:
        speed = float(text)
    except ValueError:
        raise ValueError(f"speed must be a positive number or 'max', got {text!r}") from None
    if not speed > 0 or math.isinf(speed):
        raise ValueError(f"speed must be a positive number or 'max', got {text!r}")
    return speed


def replay_schedule(records: Iterable[RecordedRecord], speed: float) -> list[tuple[float, RecordedRecord]]:
    """(seconds after the start, record) in publishing order.

    Records are ordered by arrival time, then shard and sequence number, so two
    records of one key (always on one shard) keep their order even when they
    arrived in the same millisecond.
    """
    def position(r: RecordedRecord) -> tuple:
        return (r.arrival_time_ms, r.shard_id, int(r.sequence_number), r.sub_sequence_number)

    ordered = sorted(records, key=position)
    if not ordered:
        return []
    start = ordered[0].arrival_time_ms
    if math.isinf(speed):
        return [(0.0, r) for r in ordered]
    return [((r.arrival_time_ms - start) / 1000.0 / speed, r) for r in ordered]
