"""What every sink is: ``add`` / ``flush`` / ``close``, and the batching engine they share.

A sink signals backpressure with ``SinkBackpressureError(retry_after)``: the
runner, not the sink, decides to pause its source and retry (quix-streams'
``BatchingSink`` does the same).  ``BatchingSink`` buffers encoded records,
writes them in batches by count, bytes or age, and treats partial failure as
data: a subclass's ``_write_batch`` returns the entries the service refused
with their error codes, and only those are retried (backoff with full jitter).
Entries the service calls invalid, and entries that exhaust their attempts, go
to the dead-letter destination with reason and attempt count; with no
dead-letter destination they raise one ``SinkError`` carrying every failure.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any, Callable, Generic

from prometheus_client import CollectorRegistry

from connectors.aws import CONNECTION_ERRORS, error_code, is_throttling, unreachable
from connectors.backoff import full_jitter
from connectors.clients import LazyClient
from connectors.dead_letter import DeadLetter, DeadLetterSink
from connectors.sinks.metrics import SinkMetrics
from connectors.sinks.types import (  # noqa: F401  (re-exported: the contract names them in base)
    NON_RETRYABLE_CODES, BatchEntry, Sink, SinkBackpressureError, SinkConfig, SinkError, SinkFailure, T,
    envelope_bytes,
)
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.records import Record

log = logging.getLogger("shardline.sinks")


class BatchingSink(Generic[T]):
    """Buffers records, writes them in batches, retries only the failed entries, dead-letters the rest."""

    kind = "sink"
    """Short name for metrics and messages ("s3", "dynamodb", ...); also the AWS service for the client."""
    max_record_bytes: int | None = None
    """The service's limit for one record, if smaller than max_batch_bytes."""
    non_retryable_codes = NON_RETRYABLE_CODES

    def __init__(self, config: SinkConfig, *, encode: Callable[[Record], T], client: Any = None,
                 dead_letters: DeadLetterSink | None = None, clock: Clock = SYSTEM_CLOCK,
                 rng: random.Random | None = None, registry: CollectorRegistry | None = None) -> None:
        self.config = config
        self._encode = encode
        self._client = LazyClient(self.kind, client)
        self._dead_letters = dead_letters
        self._clock = clock
        self._rng = rng or random.Random()
        self._metrics = SinkMetrics.for_registry(registry)
        self._buffer: list[BatchEntry[T]] = []
        self._buffered_bytes = 0
        self._oldest: float | None = None
        self._lock = asyncio.Lock()
        self._retry_at = 0.0
        self._ticker: asyncio.Task | None = None
        self._background_error: BaseException | None = None

    # --- what subclasses provide -------------------------------------------------------------
    def describe(self) -> str:
        """Where this sink writes, for messages and dead-letter sources (no record data)."""
        return self.kind

    def _size(self, encoded: T) -> int:
        return len(encoded)  # type: ignore[arg-type]

    async def _write_batch(self, entries: list[BatchEntry[T]]) -> list[SinkFailure]:
        """Write ``entries``; return the ones the service refused, each with its error code."""
        raise NotImplementedError

    # --- the Sink protocol -------------------------------------------------------------------
    async def add(self, record: Record) -> None:
        self._raise_background_error()
        if len(self._buffer) >= self.config.max_buffered_records:
            now = self._clock.monotonic()
            if self._lock.locked() or now < self._retry_at:
                self._metrics.backpressure.labels(self.kind).inc()
                raise SinkBackpressureError(max(self._retry_at - now, self.config.backoff_base_s))
            await self.flush()
        try:
            encoded = self._encode(record)
            size = self._size(encoded)
        except Exception as exc:  # encode is pluggable: whatever it raises, this one record is bad
            entry = BatchEntry(record, None, 0)
            await self._settle([SinkFailure(entry, "SerializationException",
                                            f"cannot encode the record ({type(exc).__name__})")])
            return
        limit = min(self.config.max_batch_bytes, self.max_record_bytes or self.config.max_batch_bytes)
        if size > limit:
            await self._settle([SinkFailure(BatchEntry(record, encoded, size), "RecordTooLarge",
                                            f"{size} bytes encoded, the limit is {limit}")])
            return
        if not self._buffer:
            self._oldest = self._clock.monotonic()
        self._buffer.append(BatchEntry(record, encoded, size))
        self._buffered_bytes += size
        ready = len(self._buffer) >= self.config.max_batch_records or \
            self._buffered_bytes >= self.config.max_batch_bytes or self._due()
        # After a failed flush, wait out its backoff instead of hammering the service on every add.
        if ready and not self._lock.locked() and self._clock.monotonic() >= self._retry_at:
            await self.flush()

    async def flush(self) -> None:
        """Write everything buffered.  Raises SinkError for undeliverable records when there is no dead-letter sink."""
        self._raise_background_error()
        async with self._lock:
            failures: list[SinkFailure] = []
            try:
                while self._buffer:
                    await self._deliver(self._take_batch(), failures)
                self._retry_at = 0.0
            except BaseException:
                self._retry_at = self._clock.monotonic() + self.config.backoff_cap_s
                raise
            finally:
                self._oldest = self._clock.monotonic() if self._buffer else None
                if failures:
                    await self._settle(failures)
                if self._dead_letters is not None:  # letters must be durable before the caller checkpoints
                    await self._dead_letters.flush()

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        try:
            await self.flush()
        finally:
            await self._client.close()

    async def __aenter__(self) -> "BatchingSink[T]":
        if self.config.flush_in_background:
            self.start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    # --- flush by age ------------------------------------------------------------------------
    def _due(self) -> bool:
        return self._oldest is not None and self._clock.monotonic() - self._oldest >= self.config.max_age_s

    async def tick(self) -> bool:
        """Flush if the oldest record is max_age_s old, no flush runs and none is backing off; True if it flushed."""
        if self._due() and not self._lock.locked() and self._clock.monotonic() >= self._retry_at:
            await self.flush()
            return True
        return False

    def start(self) -> None:
        """Start the background task that flushes idle sinks by age (``async with`` does this)."""
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def _tick_forever(self) -> None:
        while True:
            wait = self.config.max_age_s if self._oldest is None else \
                self._oldest + self.config.max_age_s - self._clock.monotonic()
            await self._clock.sleep(max(wait, 0.001))
            try:
                await self.tick()
            except Exception as exc:  # re-raised by the next add()/flush(), so it is not lost
                self._background_error = exc
                await self._clock.sleep(self.config.backoff_cap_s)

    def _raise_background_error(self) -> None:
        if self._background_error is not None:
            exc, self._background_error = self._background_error, None
            raise exc

    # --- batching, retrying, dead-lettering -------------------------------------------------
    def _take_batch(self) -> list[BatchEntry[T]]:
        count, size = 0, 0
        for entry in self._buffer:
            if count and (count >= self.config.max_batch_records or size + entry.size > self.config.max_batch_bytes):
                break
            count, size = count + 1, size + entry.size
        batch, self._buffer = self._buffer[:count], self._buffer[count:]
        self._buffered_bytes -= size
        return batch

    async def _deliver(self, batch: list[BatchEntry[T]], failures: list[SinkFailure]) -> None:
        pending, rounds = batch, 0
        try:
            while pending:
                rounds += 1
                for entry in pending:
                    entry.attempts += 1  # per entry: a requeued entry keeps the attempts it already had
                try:
                    refused = await self._write_batch(pending)
                except Exception as exc:
                    connection = isinstance(exc, CONNECTION_ERRORS)
                    if connection and rounds >= self.config.max_attempts:
                        raise unreachable(self.kind, exc) from exc
                    if not (connection or is_throttling(exc)):
                        raise self._fatal(exc) from exc
                    code = error_code(exc) or type(exc).__name__
                    refused = [SinkFailure(e, code, "the whole call failed") for e in pending]
                self._metrics.written.labels(self.kind).inc(len(pending) - len(refused))
                retry = []
                for failure in refused:
                    exhausted = failure.entry.attempts >= self.config.max_attempts
                    if failure.error_type in self.non_retryable_codes or exhausted:
                        failures.append(failure)
                    else:
                        retry.append(failure.entry)
                pending = retry
                if pending:
                    delay = full_jitter(rounds, self.config.backoff_base_s, self.config.backoff_cap_s, self._rng)
                    self._retry_at = self._clock.monotonic() + delay
                    self._metrics.retried.labels(self.kind).inc(len(pending))
                    log.info("event=sink_retry sink=%s records=%d round=%d delay_s=%.3f",
                             self.kind, len(pending), rounds, delay)
                    await self._clock.sleep(delay)
        except BaseException:
            # Nothing is dropped: unwritten entries go back to the front of the buffer for the next flush.
            self._buffer[:0] = pending
            self._buffered_bytes += sum(e.size for e in pending)
            raise

    def _fatal(self, exc: BaseException) -> SinkError:
        code = error_code(exc) or type(exc).__name__
        hint = {"ResourceNotFoundException": "does it exist, in this region?",
                "NoSuchBucket": "does the bucket exist?",
                "AccessDenied": "check the IAM policy of the role writing it.",
                "AccessDeniedException": "check the IAM policy of the role writing it."}.get(code, "")
        return SinkError(f"cannot write to {self.describe()}: {code}. {hint}".strip())

    async def _settle(self, failures: list[SinkFailure]) -> None:
        """Dead-letter refused records, or raise one SinkError with all of them."""
        by_code: dict[str, int] = {}
        for failure in failures:
            by_code[failure.error_type] = by_code.get(failure.error_type, 0) + 1
        summary = ", ".join(f"{code} x{n}" for code, n in sorted(by_code.items()))
        if self._dead_letters is None:
            raise SinkError(f"{len(failures)} record(s) could not be written to {self.describe()} ({summary}) "
                            "and no dead-letter destination is configured", failures)
        log.warning("event=sink_dead_letters sink=%s records=%d codes=%s", self.kind, len(failures), summary)
        for failure in failures:
            self._metrics.dead_lettered.labels(self.kind, failure.error_type).inc()
            attempts = failure.entry.attempts
            verdict = "rejected as invalid" if failure.error_type in self.non_retryable_codes \
                else f"gave up after {attempts} attempts"
            reason = f"{self.kind} {verdict}: {failure.error_type}" + (f": {failure.reason}" if failure.reason else "")
            await self._dead_letters.put(DeadLetter(
                reason=reason, error_type=failure.error_type, source=f"{self.describe()} id={failure.record.id}",
                attempts=attempts, data=envelope_bytes(failure.record), time=self._clock.time()))

