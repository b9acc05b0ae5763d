"""Reassembling segments from their parts, with a deadline for parts that never come.

>>> from pipelines.clock import FakeClock
>>> from pipelines.video.segments import SegmentMeta, split_segment
>>> clock = FakeClock()
>>> assembler = SegmentAssembler(AssemblyConfig(part_timeout_s=30), clock)
>>> parts = split_segment(SegmentMeta("cam-1", 0, 0, 2.0, "h264", 640, 360, 30.0), b"ts" * 1000,
...                       max_record_bytes=1000)
>>> [assembler.add(p) for p in parts[:-1]]
[None, None, None]
>>> done = assembler.add(parts[-1])
>>> done.data == b"ts" * 1000, assembler.add(parts[0]), assembler.duplicates
(True, None, 1)
>>> late = split_segment(SegmentMeta("cam-1", 1, 180_000, 2.0, "h264", 640, 360, 30.0), b"ts" * 1000,
...                      max_record_bytes=1000)
>>> assembler.add(late[0]); clock.advance(31)
>>> [(gone.meta.sequence, gone.error_type, gone.reason) for gone in assembler.expire()]
[(1, 'incomplete_segment', 'segment 1 of video cam-1: 1 of 4 parts arrived within 30 s')]
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.video.segments import SegmentMeta, SegmentPart


@dataclass(frozen=True)
class AssemblyConfig:
    part_timeout_s: float = 30.0
    """A segment whose parts are not all in this long after its first arrived is dead-lettered (the stream goes on)."""
    max_pending_segments: int = 8
    """Incomplete segments kept per video; past this the oldest is given up (memory stays bounded)."""
    remember_completed: int = 256
    """Segments per video remembered as done, so that a replayed part is ignored rather than re-transcoded."""


@dataclass(frozen=True)
class CompleteSegment:
    meta: SegmentMeta
    data: bytes
    parts: tuple[SegmentPart, ...]


@dataclass(frozen=True)
class AbandonedSegment:
    """Parts that will not make a segment: they go to the dead letters with this reason."""

    meta: SegmentMeta
    parts: tuple[SegmentPart, ...]
    error_type: str
    reason: str


@dataclass
class _Pending:
    meta: SegmentMeta
    count: int
    first_seen: float
    parts: dict[int, SegmentPart] = field(default_factory=dict)


class SegmentAssembler:
    def __init__(self, config: AssemblyConfig = AssemblyConfig(), clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.clock = clock
        self._pending: OrderedDict[tuple[str, int], _Pending] = OrderedDict()
        self._done: dict[str, deque[int]] = {}
        self.duplicates = 0
        """Parts ignored because they were already received or their segment was already assembled."""

    def add(self, part: SegmentPart) -> CompleteSegment | AbandonedSegment | None:
        """Take one part; the segment once it is whole, an abandoned one if the parts disagree, else None."""
        meta = part.meta
        key = (meta.video_id, meta.sequence)
        if meta.sequence in self._done.get(meta.video_id, ()):
            self.duplicates += 1
            return None
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(meta, part.part_count, self.clock.monotonic())
        elif pending.meta != meta or pending.count != part.part_count:
            # Two publications of one segment number mixed up: neither can be trusted.
            del self._pending[key]
            parts = tuple(pending.parts.values()) + (part,)
            return AbandonedSegment(pending.meta, parts, "inconsistent_parts",
                                    f"segment {meta.sequence} of video {meta.video_id}: parts disagree on its "
                                    "size, digest or codec parameters")
        if part.part_index in pending.parts:
            self.duplicates += 1
            return None
        pending.parts[part.part_index] = part
        if len(pending.parts) < pending.count:
            return None
        del self._pending[key]
        self._remember(meta)
        parts = tuple(pending.parts[k] for k in range(pending.count))
        data = b"".join(p.data for p in parts)
        if len(data) != meta.segment_bytes or hashlib.sha256(data).hexdigest() != meta.sha256:
            return AbandonedSegment(meta, parts, "corrupt_segment",
                                    f"segment {meta.sequence} of video {meta.video_id}: its parts do not add up to "
                                    "the size and digest it was published with")
        return CompleteSegment(meta, data, parts)

    def expire(self) -> list[AbandonedSegment]:
        """Segments past their deadline, and the oldest beyond ``max_pending_segments`` of a video."""
        now = self.clock.monotonic()
        gone = []
        per_video: dict[str, int] = {}
        for key, pending in reversed(list(self._pending.items())):  # newest first: the oldest are over the cap
            per_video[key[0]] = per_video.get(key[0], 0) + 1
            over_cap = per_video[key[0]] > self.config.max_pending_segments
            if now - pending.first_seen > self.config.part_timeout_s or over_cap:
                del self._pending[key]
                meta = pending.meta
                why = (f"more than {self.config.max_pending_segments} segments were incomplete at once" if over_cap
                       else f"{len(pending.parts)} of {pending.count} parts arrived within "
                            f"{self.config.part_timeout_s:g} s")
                gone.append(AbandonedSegment(meta, tuple(pending.parts.values()), "incomplete_segment",
                                             f"segment {meta.sequence} of video {meta.video_id}: {why}"))
        return sorted(gone, key=lambda g: (g.meta.video_id, g.meta.sequence))

    def pending_parts(self) -> list[SegmentPart]:
        """Every part of every incomplete segment (what a sink keeps durable across a restart)."""
        return [part for pending in self._pending.values() for part in pending.parts.values()]

    def _remember(self, meta: SegmentMeta) -> None:
        done = self._done.setdefault(meta.video_id, deque(maxlen=self.config.remember_completed))
        done.append(meta.sequence)
