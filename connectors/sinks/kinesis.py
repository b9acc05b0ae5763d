"""KinesisStreamSink: records onto another Kinesis stream, through ``KinesisProducer``.

A thin adapter: the producer already batches PutRecords calls, retries only
the failed entries and (optionally) KPL-aggregates.  This sink adds the Sink
contract on top: records are encoded as the Avro envelope, a record the
producer calls too large is dead-lettered at once, and records the producer
gives up on (``ProducerError.failures``) are dead-lettered or raised as one
``SinkError``.  Backpressure: ``add`` awaits while the producer's bounded
queue is full, so it never raises ``SinkBackpressureError``.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from prometheus_client import CollectorRegistry

from connectors.dead_letter import DeadLetter, DeadLetterSink
from connectors.kinesis.producer import (
    FailedRecord, KinesisProducer, ProducerConfig, ProducerError, RecordTooLargeError,
)
from connectors.sinks.metrics import SinkMetrics
from connectors.sinks.types import NON_RETRYABLE_CODES, BatchEntry, SinkError, SinkFailure, envelope_bytes
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.records import Record, RecordValidationError, from_avro, to_avro


class KinesisStreamSink:
    kind = "kinesis"

    def __init__(self, config: ProducerConfig, *, encode: Callable[[Record], bytes] = to_avro,
                 dead_letters: DeadLetterSink | None = None, client: Any = None, producer: Any = None,
                 clock: Clock = SYSTEM_CLOCK, registry: CollectorRegistry | None = None) -> None:
        """``producer`` replaces the KinesisProducer built from ``config`` (tests inject fakes)."""
        self.config = config
        self._encode = encode
        self._dead_letters = dead_letters
        self._clock = clock
        self._metrics = SinkMetrics.for_registry(registry)
        self._producer = producer or KinesisProducer(config, client=client, clock=clock, registry=registry)
        self._started = False

    def describe(self) -> str:
        return f"kinesis:{self.config.stream_name}"

    async def __aenter__(self) -> "KinesisStreamSink":
        await self._start()
        return self

    async def _start(self) -> None:
        if not self._started:
            self._started = True
            try:
                await self._producer.__aenter__()
            except ProducerError as exc:  # e.g. the stream does not exist: the message says what to do
                raise SinkError(f"cannot write to {self.describe()}: {exc}") from exc

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def add(self, record: Record) -> None:
        try:
            data = self._encode(record)
        except Exception as exc:  # encode is pluggable: whatever it raises, this one record is bad
            failure = SinkFailure(BatchEntry(record, None, 0), "SerializationException",
                                  f"cannot encode the record ({type(exc).__name__})")
            return await self._settle([failure])
        await self._start()
        try:
            await self._producer.put(data, record.partition_key)
        except RecordTooLargeError:  # its message names the partition key: keep it out of the letter
            await self._settle([SinkFailure(BatchEntry(record, data, len(data)), "RecordTooLarge",
                                            f"{len(data)} bytes encoded is over the Kinesis record limit")])
        except ValueError as exc:  # a partition key Kinesis cannot take; the message states the rule only
            await self._settle([SinkFailure(BatchEntry(record, data, len(data)), "InvalidArgumentException",
                                            str(exc))])
        except ProducerError as exc:
            # Fatal (missing stream, producer stopped): the records it held come back from flush()/close().
            raise SinkError(f"cannot write to {self.describe()}: {exc}") from exc

    async def flush(self) -> None:
        if self._started:
            await self._settle_producer(self._producer.flush)

    async def close(self) -> None:
        if self._started:
            await self._settle_producer(self._producer.close)

    async def _settle_producer(self, step: Callable[[], Awaitable[None]]) -> None:
        try:
            await step()
        except ProducerError as exc:
            try:
                if exc.failures:
                    await self._settle([self._failure(f) for f in exc.failures])
            finally:
                if exc.__cause__ is not None:  # the producer stopped (raised "from" the fatal error): stop too
                    raise SinkError(f"cannot write to {self.describe()}: {exc}") from exc
        finally:
            if self._dead_letters is not None:
                await self._dead_letters.flush()

    def _failure(self, failed: FailedRecord) -> SinkFailure:
        """A producer FailedRecord as a SinkFailure; the record is recovered from its Avro bytes when it can be."""
        try:
            record = from_avro(failed.data) if self._encode is to_avro else None
        except RecordValidationError:
            record = None
        entry = BatchEntry(record, failed.data, len(failed.data), failed.attempts)  # type: ignore[arg-type]
        return SinkFailure(entry, failed.error_code or "ProducerGaveUp", (failed.error_message or "")[:300])

    async def _settle(self, failures: list[SinkFailure]) -> None:
        if self._dead_letters is None:
            codes = sorted({f.error_type for f in failures})
            raise SinkError(f"{len(failures)} record(s) could not be written to {self.describe()} ({', '.join(codes)}) "
                            "and no dead-letter destination is configured", failures)
        for failure in failures:
            self._metrics.dead_lettered.labels(self.kind, failure.error_type).inc()
            entry, record = failure.entry, failure.record
            verdict = "rejected as invalid" if failure.error_type in NON_RETRYABLE_CODES \
                else f"gave up after {entry.attempts} attempts"
            await self._dead_letters.put(DeadLetter(
                reason=f"kinesis {verdict}: {failure.error_type}" + (f": {failure.reason}" if failure.reason else ""),
                error_type=failure.error_type,
                source=self.describe() + (f" id={record.id}" if record is not None else ""),
                attempts=entry.attempts,
                data=entry.encoded if entry.encoded is not None else envelope_bytes(record), time=self._clock.time()))
