"""S3Sink: records as objects under ``<prefix>/dt=YYYY-MM-DD/hour=HH/<uuid>.<ext>``.

The partition comes from each record's ``event_time`` (UTC), so late records
land where queries over event time look for them.  Each written batch becomes
one object per partition: an Avro container file with the envelope schema
(``.avro``), or gzipped JSON lines (``.jsonl.gz``).  A PutObject either
succeeds or fails whole, so a refused partition is retried as a unit.
"""
from __future__ import annotations

import gzip
import io
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from connectors.aws import error_code, is_throttling
from connectors.dead_letter import hour_partition
from connectors.sinks.base import BatchEntry, BatchingSink, SinkConfig, SinkFailure
from pipelines.records import Record, to_avro, to_json_line, write_avro_file

FORMATS = {"avro": ".avro", "jsonl.gz": ".jsonl.gz"}


@dataclass(frozen=True)
class S3SinkConfig:
    bucket: str
    """Bucket to write to (it must exist)."""
    prefix: str = "records"
    """Key prefix above the dt=/hour= partitions."""
    format: str = "avro"
    """"avro" (container file, envelope schema) or "jsonl.gz" (gzipped JSON lines)."""
    avro_codec: str = "deflate"
    """Avro block codec: "null" or "deflate" (fastavro's built-ins)."""
    batching: SinkConfig = field(default_factory=lambda: SinkConfig(
        max_batch_records=50_000, max_batch_bytes=64 * 1024 * 1024, max_age_s=60.0))
    """Objects are few and large: S3 charges per request and Athena reads big files faster."""

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"S3SinkConfig.format must be one of {sorted(FORMATS)}, got {self.format!r}")


def _jsonl_encode(record: Record) -> bytes:
    return (to_json_line(record) + "\n").encode("utf-8")


class S3Sink(BatchingSink[bytes]):
    kind = "s3"

    def __init__(self, config: S3SinkConfig, *, encode: Callable[[Record], bytes] | None = None,
                 **kwargs: Any) -> None:
        """``encode`` replaces the JSON-lines encoder (jsonl.gz); Avro objects always use the envelope schema,
        and their batches are sized by each record's Avro encoding."""
        self.s3 = config
        self._prefix = config.prefix.strip("/")
        default = to_avro if config.format == "avro" else _jsonl_encode
        super().__init__(config.batching, encode=encode if config.format == "jsonl.gz" and encode else default,
                         **kwargs)

    def describe(self) -> str:
        return f"s3://{self.s3.bucket}/{self._prefix}/"

    async def _write_batch(self, entries: list[BatchEntry[bytes]]) -> list[SinkFailure]:
        partitions: dict[str, list[BatchEntry[bytes]]] = {}
        refused: list[SinkFailure] = []
        for entry in entries:
            try:
                partition = hour_partition(entry.record.event_time / 1000)
            except (OverflowError, OSError, ValueError):
                refused.append(SinkFailure(entry, "InvalidEventTime", "event_time is outside the calendar"))
                continue
            partitions.setdefault(partition, []).append(entry)
        client = await self._client.get()
        for partition, group in sorted(partitions.items()):
            key = f"{self._prefix}/{partition}/{uuid.uuid4()}{FORMATS[self.s3.format]}"
            try:
                await client.put_object(Bucket=self.s3.bucket, Key=key, Body=self._body(group),
                                        ContentType=self._content_type())
            except Exception as exc:
                if not is_throttling(exc):
                    # The base retries a connection error and stops on anything else; partitions already
                    # written may then be written again (delivery is at least once).
                    raise
                refused.extend(SinkFailure(e, error_code(exc), "S3 throttled this partition's object")
                               for e in group)
        return refused

    def _body(self, group: list[BatchEntry[bytes]]) -> bytes:
        if self.s3.format == "avro":
            buffer = io.BytesIO()
            write_avro_file(buffer, [e.record for e in group], codec=self.s3.avro_codec)
            return buffer.getvalue()
        return gzip.compress(b"".join(e.encoded for e in group), compresslevel=6)

    def _content_type(self) -> str:
        return "avro/binary" if self.s3.format == "avro" else "application/gzip"
