"""The sink contract: configuration, errors, the protocol, and what a batch holds.

Split from ``base`` (the batching engine) so callers that only catch
``SinkBackpressureError`` or build a ``SinkConfig`` import little.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Generic, Protocol, TypeVar

from pipelines.records import Record, to_avro

T = TypeVar("T")

NON_RETRYABLE_CODES = frozenset({
    "ValidationException", "InvalidArgumentException", "SerializationException",
    "RecordTooLarge", "InvalidEventTime",
})
"""Per-record codes meaning "this record is bad": dead-lettered at once, never retried."""


@dataclass(frozen=True)
class SinkConfig:
    max_batch_records: int = 500
    """A batch is written once it holds this many records."""
    max_batch_bytes: int = 4 * 1024 * 1024
    """... or this many encoded bytes; a single larger record is rejected as RecordTooLarge."""
    max_age_s: float = 5.0
    """... or once its oldest record has waited this long (checked by add(), tick() and the background task)."""
    max_attempts: int = 5
    """Write attempts per record before it is dead-lettered."""
    backoff_base_s: float = 0.1
    """The first retry waits up to this long (full jitter, doubling per attempt)."""
    backoff_cap_s: float = 10.0
    """No retry waits longer than this."""
    max_buffered_records: int = 10_000
    """add() raises SinkBackpressureError when this many records wait and a flush is running or failing."""
    flush_in_background: bool = True
    """``async with sink`` starts a task that flushes an idle sink by age (with a FakeClock, call tick() instead)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, bool) and value <= 0:
                raise ValueError(f"SinkConfig.{f.name} must be positive, got {value}")


class SinkError(RuntimeError):
    """Records could not be written.  ``failures`` carries each of them; the message never quotes data."""

    def __init__(self, message: str, failures: list["SinkFailure"] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or []


class SinkBackpressureError(Exception):
    """The sink's buffer is full while a flush runs or backs off: pause, then retry ``add`` after ``retry_after``."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"sink buffer is full; retry in {retry_after:.3f}s")
        self.retry_after = retry_after


class Sink(Protocol):
    async def add(self, record: Record) -> None: ...
    async def flush(self) -> None: ...
    async def close(self) -> None: ...


@dataclass(eq=False, slots=True)
class BatchEntry(Generic[T]):
    record: Record = field(repr=False)
    encoded: T = field(repr=False)
    size: int
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class SinkFailure:
    """One record the service refused, with its code; what ``_write_batch`` returns and ``SinkError`` carries."""
    entry: BatchEntry
    error_type: str
    reason: str = ""

    @property
    def record(self) -> Record:
        return self.entry.record


def envelope_bytes(record: Record) -> bytes:
    """A dead letter's data: the Avro envelope, so ``dlq redrive`` can put it back on a stream.

    JSON when the record is not Avro-valid (it may be exactly what made it fail).
    """
    try:
        return to_avro(record)
    except Exception:
        return json.dumps(record.as_dict(), default=repr, separators=(",", ":")).encode("utf-8")
