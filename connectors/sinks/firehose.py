"""FirehoseSink: records as newline-delimited JSON, written with PutRecordBatch.

PutRecordBatch takes up to 500 records or 4 MiB and can fail part of the
batch: ``FailedPutCount`` says how many, and each refused entry of
``RequestResponses`` (same order as the request) has an ``ErrorCode``.
Only those entries are retried.  Each record ends with a newline, so the
objects Firehose concatenates into S3 are JSON lines.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from connectors.sinks.base import BatchEntry, BatchingSink, SinkConfig, SinkFailure
from pipelines.records import Record, to_json_line

MAX_RECORD_BYTES = 1000 * 1024
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class FirehoseSinkConfig:
    delivery_stream_name: str
    """Delivery stream to write to (it must exist, with a Direct PUT source)."""
    batching: SinkConfig = field(default_factory=lambda: SinkConfig(
        max_batch_records=MAX_BATCH_RECORDS, max_batch_bytes=MAX_BATCH_BYTES, max_age_s=1.0))
    """PutRecordBatch's own limits; Firehose buffers again before delivering, so a short age is fine."""

    def __post_init__(self) -> None:
        if self.batching.max_batch_records > MAX_BATCH_RECORDS or self.batching.max_batch_bytes > MAX_BATCH_BYTES:
            raise ValueError(f"FirehoseSinkConfig.batching: PutRecordBatch takes at most {MAX_BATCH_RECORDS} "
                             f"records and {MAX_BATCH_BYTES} bytes per call")


def json_line(record: Record) -> bytes:
    """The default encoding: the envelope as one JSON line (bytes as {"$base64": ...})."""
    return (to_json_line(record) + "\n").encode("utf-8")


class FirehoseSink(BatchingSink[bytes]):
    kind = "firehose"
    max_record_bytes = MAX_RECORD_BYTES

    def __init__(self, config: FirehoseSinkConfig, *, encode: Callable[[Record], bytes] = json_line,
                 **kwargs: Any) -> None:
        self.stream = config
        super().__init__(config.batching, encode=encode, **kwargs)

    def describe(self) -> str:
        return f"firehose:{self.stream.delivery_stream_name}"

    async def _write_batch(self, entries: list[BatchEntry[bytes]]) -> list[SinkFailure]:
        client = await self._client.get()
        response = await client.put_record_batch(
            DeliveryStreamName=self.stream.delivery_stream_name, Records=[{"Data": e.encoded} for e in entries])
        if not response.get("FailedPutCount"):
            return []
        return [SinkFailure(entry, result["ErrorCode"], result.get("ErrorMessage", "")[:300])
                for entry, result in zip(entries, response["RequestResponses"]) if result.get("ErrorCode")]
