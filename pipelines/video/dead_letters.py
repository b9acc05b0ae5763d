"""Dead letters of the video sink: text masked as every dead letter is, the media kept for redrive.

The generic dead-letter mask reads bytes it cannot parse as text and redacts
digit runs in them: on an MPEG-TS slice that would only destroy the segment.
So a part's envelope keeps its ``data`` bytes, and every text field (the id,
the partition key, the video id...) goes through the generic mask.  Letters
that are not video parts get the generic mask whole.
"""
from __future__ import annotations

from pipelines.pii.dead_letters import DeadLetterMask
from pipelines.records import Record, from_avro, to_avro
from pipelines.video.segments import END_TYPE, PART_TYPE


class VideoDeadLetterMask:
    """``bytes -> bytes`` for ``FileDeadLetters``/``S3DeadLetters``; never raises."""

    def __init__(self) -> None:
        self.generic = DeadLetterMask()

    def __call__(self, data: bytes) -> bytes:
        try:
            record = from_avro(data)
            is_part = to_avro(record) == data and record.type in (PART_TYPE, END_TYPE) \
                and isinstance(record.payload, dict)
        except Exception:  # noqa: BLE001 - not an envelope at all
            is_part = False
        if not is_part:
            return self.generic(data)
        text = self.generic.mask_text
        payload = {key: text(value) if isinstance(value, str) else value for key, value in record.payload.items()}
        return to_avro(Record(id=text(record.id), type=record.type, source=text(record.source),
                              partition_key=text(record.partition_key), payload=payload,
                              event_time=record.event_time, schema=record.schema))
