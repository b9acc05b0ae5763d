"""Segment parts: how a video segment travels as Kinesis records, and back.

A segment (about 2 s of MPEG-TS, cut on a keyframe) is split into parts that
each fit one Kinesis record.  Every part is an envelope whose payload carries
the segment's identity and codec parameters beside its slice of bytes, so any
part tells the sink what it belongs to.  Record ids are deterministic
(``<video_id>/<sequence>/<part>``): a replayed part is recognised.

>>> meta = SegmentMeta("cam-1", 7, pts_90k=1_260_000, duration_s=2.0, codec="h264", width=1280, height=720,
...                    fps=30.0)
>>> parts = split_segment(meta, b"x" * 2500, max_record_bytes=1500)
>>> [(p.part_index, p.part_count, len(p.data)) for p in parts]
[(0, 3, 1158), (1, 3, 1158), (2, 3, 184)]
>>> all(len(to_avro(part_record(p))) + len(p.meta.video_id) <= 1500 for p in parts)
True
>>> from_record(part_record(parts[1])) == parts[1]
True
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pipelines.engine import SinkItem
from pipelines.records import Record, to_avro
from pipelines.video.errors import PartError

PART_TYPE = "video.segment.part"
END_TYPE = "video.stream.end"
PART_SCHEMA = "shardline.video.SegmentPart/1"
SOURCE = "shardline.video.publisher"


@dataclass(frozen=True)
class SegmentMeta:
    """What every part of a segment says about it."""

    video_id: str
    sequence: int
    """The segment's number in its video, from 0."""
    pts_90k: int
    """Presentation time of its first frame, on the MPEG-TS 90 kHz clock."""
    duration_s: float
    codec: str
    width: int
    height: int
    fps: float
    segment_bytes: int = 0
    """Size of the whole segment: reassembly checks it."""
    sha256: str = ""
    """Digest of the whole segment: reassembly checks it, so a part damaged or mixed up is caught."""


@dataclass(frozen=True)
class SegmentPart(SinkItem):
    meta: SegmentMeta
    part_index: int
    part_count: int
    data: bytes
    event_time: int = 0
    """Epoch milliseconds when it was published."""

    @property
    def record_id(self) -> str:
        return f"{self.meta.video_id}/{self.meta.sequence}/{self.part_index}"


def _payload(part: SegmentPart) -> dict:
    meta = part.meta
    return {"video_id": meta.video_id, "sequence": meta.sequence, "part_index": part.part_index,
            "part_count": part.part_count, "pts_90k": meta.pts_90k, "duration_s": float(meta.duration_s),
            "codec": meta.codec, "width": meta.width, "height": meta.height, "fps": float(meta.fps),
            "segment_bytes": meta.segment_bytes, "sha256": meta.sha256, "data": part.data}


def part_record(part: SegmentPart) -> Record:
    """The envelope a part travels in, keyed by its video so that all its parts stay in order on one shard."""
    return Record(type=PART_TYPE, source=SOURCE, partition_key=part.meta.video_id, payload=_payload(part),
                  event_time=part.event_time, id=part.record_id, schema=PART_SCHEMA)


def end_record(video_id: str, last_sequence: int, event_time: int = 0) -> Record:
    """The record of a ``StreamEnd``."""
    return Record(type=END_TYPE, source=SOURCE, partition_key=video_id, event_time=event_time,
                  id=f"{video_id}/end", payload={"video_id": video_id, "last_sequence": last_sequence},
                  schema=PART_SCHEMA)


def split_segment(meta: SegmentMeta, data: bytes, *, max_record_bytes: int, event_time: int = 0) -> list[SegmentPart]:
    """Cut a segment into parts whose envelopes (Avro, plus the partition key) fit ``max_record_bytes``."""
    if not data:
        raise ValueError("an empty segment has nothing to publish")
    meta = SegmentMeta(**{**meta.__dict__, "segment_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    # The envelope around the bytes: measured with an empty slice, plus room for the slice's length prefix
    # (an Avro varint, at most 5 bytes under 2 GiB) and for a longer part number.
    probe = SegmentPart(meta, 99_999, 99_999, b"", event_time)
    overhead = len(to_avro(part_record(probe))) + len(meta.video_id.encode()) + 5
    room = max_record_bytes - overhead
    if room < 256:
        raise ValueError(f"max_record_bytes={max_record_bytes} leaves no room for data next to the envelope")
    count = -(-len(data) // room)
    return [SegmentPart(meta, k, count, data[k * room:(k + 1) * room], event_time) for k in range(count)]


_INT_FIELDS = ("sequence", "part_index", "part_count", "pts_90k", "width", "height", "segment_bytes")


def from_record(record: Record) -> SegmentPart:
    """The part a record carries; ``PartError`` names the first field that is missing or wrong."""
    if record.type != PART_TYPE:
        raise PartError("type", f"expected {PART_TYPE!r}")
    payload = record.payload
    if not isinstance(payload, dict):
        raise PartError("payload", "must be a map")
    for name in _INT_FIELDS:
        value = payload.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise PartError(name, "must be an integer")
    for name in ("duration_s", "fps"):
        if not isinstance(payload.get(name), (int, float)) or isinstance(payload.get(name), bool):
            raise PartError(name, "must be a number")
    for name in ("video_id", "codec", "sha256"):
        if not isinstance(payload.get(name), str) or not payload[name]:
            raise PartError(name, "must be a non-empty string")
    if not isinstance(payload.get("data"), bytes) or not payload["data"]:
        raise PartError("data", "must be non-empty bytes")
    if payload["sequence"] < 0 or not 0 <= payload["part_index"] < payload["part_count"]:
        raise PartError("part_index", "must be within 0 and part_count - 1 (and sequence not negative)")
    if payload["duration_s"] <= 0:
        raise PartError("duration_s", "must be positive")
    meta = SegmentMeta(payload["video_id"], payload["sequence"], payload["pts_90k"], float(payload["duration_s"]),
                       payload["codec"], payload["width"], payload["height"], float(payload["fps"]),
                       payload["segment_bytes"], payload["sha256"])
    return SegmentPart(meta, payload["part_index"], payload["part_count"], payload["data"], record.event_time)


@dataclass(frozen=True)
class StreamEnd(SinkItem):
    """Published after a video's last segment: the sink closes its playlists."""

    video_id: str
    last_sequence: int


def end_from_record(record: Record) -> StreamEnd:
    payload = record.payload
    if not isinstance(payload, dict) or not isinstance(payload.get("video_id"), str) or not payload["video_id"]:
        raise PartError("video_id", "an end-of-stream record needs a non-empty video_id")
    last = payload.get("last_sequence")
    if isinstance(last, bool) or not isinstance(last, int):
        raise PartError("last_sequence", "must be an integer")
    return StreamEnd(payload["video_id"], last)


def video_items(record: Record) -> list[SegmentPart | StreamEnd]:
    """The pipeline of the transcoding pattern: a record is a segment part or the end of a video.

    Anything else raises ``PartError``, naming the field, and the engine dead-letters the record.
    """
    if record.type == END_TYPE:
        return [end_from_record(record)]
    return [from_record(record)]
