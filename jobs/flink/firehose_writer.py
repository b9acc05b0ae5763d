"""The PyFlink job's Firehose output: processed records as OpenSearch bulk lines, via PutRecordBatch.

The encoding is ``connectors.sinks.opensearch.opensearch_bulk``, the one the
KCL processor and the local runner give their ``FirehoseSink``, so the three
engines deliver the same bytes.  ``FirehoseBatchWriter`` keeps each batch in
keyed list state, so a checkpoint holds it until PutRecordBatch has taken it
(delivery is at least once; the bulk action is ``index`` by record id, so a
record sent twice is indexed once).

PutRecordBatch can refuse part of a batch: only the refused entries are sent
again, after a backoff with full jitter.  Entries the service calls invalid,
and entries that exhaust their attempts, become dead letters (the writer's
output, which the job adds to its dead-letter stream).  A missing delivery
stream or denied access stops the job with a message saying so.

The retry loop is written here rather than reusing ``BatchingSink``: a Flink
operator is synchronous, and that engine is asyncio (its client aiobotocore,
which the Managed Flink zip does not carry).
"""
from __future__ import annotations

import functools
import logging
import random
import time
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from pyflink.common import Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ListStateDescriptor, ValueStateDescriptor

from connectors.aws import CONNECTION_ERRORS, error_code, is_throttling, unreachable
from connectors.backoff import full_jitter
from connectors.sinks.types import NON_RETRYABLE_CODES
from jobs.flink.job_config import BYTES, END_OF_INPUT, PARTITIONED, PipelineJobConfig

log = logging.getLogger("shardline.jobs.flink.firehose")

MAX_RECORD_BYTES = 1000 * 1024  # PutRecordBatch's limits
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
KEYS_PER_SUBTASK = 4  # batch keys per parallel instance, so hashing rarely leaves a subtask without one
_HINTS = {"ResourceNotFoundException": "does the delivery stream exist, in this region?",
          "AccessDeniedException": "check the IAM policy of the application's role (firehose:PutRecordBatch).",
          "InvalidKMSResourceException": "check the delivery stream's KMS key and its grants."}


@dataclass(frozen=True)
class FirehoseWriterConfig:
    """How the Firehose operator batches and retries."""

    delivery_stream: str
    """Delivery stream (Direct PUT) to write to."""
    index: str = "shardline"
    """OpenSearch index named in each bulk action line."""
    max_batch_records: int = MAX_BATCH_RECORDS
    """Records per PutRecordBatch call at most (the service takes 500)."""
    max_batch_bytes: int = MAX_BATCH_BYTES
    """Encoded bytes per call at most (the service takes 4 MiB)."""
    max_age_s: float = 1.0
    """A batch is sent at the latest this long after its first record (Firehose buffers again itself)."""
    max_attempts: int = 5
    """Attempts per record before it becomes a dead letter."""
    backoff_base_s: float = 0.1
    """The first retry waits up to this long (full jitter, doubling per round)."""
    backoff_cap_s: float = 10.0
    """No retry waits longer than this."""

    def __post_init__(self) -> None:
        if not 0 < self.max_batch_records <= MAX_BATCH_RECORDS or not 0 < self.max_batch_bytes <= MAX_BATCH_BYTES:
            raise ValueError(f"PutRecordBatch takes 1 to {MAX_BATCH_RECORDS} records and at most "
                             f"{MAX_BATCH_BYTES} bytes per call")
        if self.max_attempts < 1 or self.max_age_s <= 0:
            raise ValueError("max_attempts and max_age_s must be positive")


class FirehoseWriteError(RuntimeError):
    """The delivery stream cannot be written at all (missing, access denied); says what to check."""


@dataclass(frozen=True, slots=True)
class Refused:
    """An entry of a batch that PutRecordBatch did not take, for good."""

    position: int
    """Its index in the batch."""
    error_code: str
    message: str
    attempts: int


def put_batch(client: Any, stream: str, items: Sequence[bytes], *, config: FirehoseWriterConfig,
              rng: random.Random, sleep: Callable[[float], None] = time.sleep) -> tuple[list[Refused], int]:
    """Send ``items`` with PutRecordBatch, retrying only refused entries; returns (refused for good, retries).

    Throttling and connection errors fail the whole call, which is retried like a refusal of every
    entry; a connection error that outlasts ``max_attempts`` raises ``EndpointUnreachable``, any
    other error ``FirehoseWriteError``.
    """
    attempts = [0] * len(items)
    pending, refused, rounds, retries = list(range(len(items))), [], 0, 0
    while pending:
        rounds += 1
        for position in pending:
            attempts[position] += 1
        try:
            response = client.put_record_batch(DeliveryStreamName=stream,
                                               Records=[{"Data": items[p]} for p in pending])
            results = response.get("RequestResponses", []) if response.get("FailedPutCount") else []
            failed = [(p, r["ErrorCode"], r.get("ErrorMessage") or "")
                      for p, r in zip(pending, results) if r.get("ErrorCode")]
        except Exception as exc:
            connection = isinstance(exc, CONNECTION_ERRORS)
            if connection and rounds >= config.max_attempts:
                raise unreachable("firehose", exc) from exc
            if not (connection or is_throttling(exc)):
                code = error_code(exc) or type(exc).__name__
                raise FirehoseWriteError(f"cannot write to firehose:{stream}: {code}. {_HINTS.get(code, '')}"
                                         .strip()) from exc
            failed = [(p, error_code(exc) or type(exc).__name__, "the whole call failed") for p in pending]
        pending = []
        for position, code, message in failed:
            if code in NON_RETRYABLE_CODES or attempts[position] >= config.max_attempts:
                refused.append(Refused(position, code, message[:300], attempts[position]))
            else:
                pending.append(position)
        if pending:
            retries += len(pending)
            delay = full_jitter(rounds, config.backoff_base_s, config.backoff_cap_s, rng)
            log.info("event=firehose_retry stream=%s records=%d round=%d delay_s=%.3f",
                     stream, len(pending), rounds, delay)
            sleep(delay)
    return refused, retries


def envelope_of(bulk_entry: bytes) -> bytes:
    """A dead letter's data for a bulk entry: the record's Avro envelope again (``dlq redrive`` takes it).

    State holds the encoded entries (what is sent); the document line is the record's JSON line,
    so the envelope comes back from it.  An entry that does not parse is kept as it is.
    """
    from pipelines.records import from_json_line, to_avro

    try:
        return to_avro(from_json_line(bulk_entry.split(b"\n", 2)[1]))
    except Exception:  # noqa: BLE001 - the letter must be stored whatever the entry holds
        return bulk_entry


class FirehoseBatchWriter(KeyedProcessFunction):
    """``(batch key, Avro envelope)`` in, dead letters ``(dt=/hour= partition, DeadLetter JSON)`` out."""

    def __init__(self, config: FirehoseWriterConfig, dead_letter_mask: str | None = None) -> None:
        self.config, self.mask_spec = config, dead_letter_mask

    def open(self, runtime_context: RuntimeContext) -> None:
        from connectors.aws import AwsConfig, client
        from connectors.sinks.opensearch import opensearch_bulk
        from jobs.local.runner import load_pipeline

        self.encode = opensearch_bulk(self.config.index)
        self.mask = load_pipeline(self.mask_spec) if self.mask_spec else None
        self.batch = runtime_context.get_list_state(ListStateDescriptor("firehose-batch", BYTES))
        self.count = runtime_context.get_state(ValueStateDescriptor("firehose-count", Types.INT()))
        self.size = runtime_context.get_state(ValueStateDescriptor("firehose-bytes", Types.INT()))
        # sdk_retries=0: put_batch retries, and only the refused entries.
        self.firehose = client("firehose", AwsConfig(sdk_retries=0))
        self.rng = random.Random()
        metrics = runtime_context.get_metrics_group()
        self.written = metrics.counter("shardline_flink_firehose_records_written")
        self.retried = metrics.counter("shardline_flink_firehose_records_retried")
        self.dead_letters = metrics.counter("shardline_flink_firehose_dead_letters")

    def process_element(self, value, ctx: KeyedProcessFunction.Context):
        from pipelines.records import from_avro

        envelope = bytes(value[1])
        try:
            entry = self.encode(from_avro(envelope))
        except Exception as exc:  # noqa: BLE001 - e.g. an id over OpenSearch's limit: this record only
            # The encoder's ValueErrors name no data; of anything else only the type is kept.
            why = str(exc) if isinstance(exc, ValueError) else type(exc).__name__
            yield self._letter("SerializationException", f"firehose cannot encode the record: {why}", 1, envelope)
            return
        if len(entry) > MAX_RECORD_BYTES:
            yield self._letter("RecordTooLarge", f"bulk entry of {len(entry)} bytes is over Firehose's "
                                                 f"{MAX_RECORD_BYTES}", 1, envelope)
            return
        count, size = self.count.value() or 0, self.size.value() or 0
        if count and size + len(entry) > self.config.max_batch_bytes:
            yield from self._write()
            count, size = 0, 0
        self.batch.add(entry)
        self.count.update(count + 1)
        self.size.update(size + len(entry))
        if count == 0:
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + int(self.config.max_age_s * 1000))
            timers.register_event_time_timer(END_OF_INPUT)
        if count + 1 >= self.config.max_batch_records:
            yield from self._write()

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        if self.count.value():
            yield from self._write()

    def _write(self):
        items = list(self.batch.get())
        refused, retries = put_batch(self.firehose, self.config.delivery_stream, items, config=self.config,
                                     rng=self.rng)
        # Cleared only once the service took (or refused for good) every entry: until then a checkpoint holds them.
        self.batch.clear()
        self.count.clear()
        self.size.clear()
        self.written.inc(len(items) - len(refused))
        self.retried.inc(retries)
        log.info("event=firehose_batch_written stream=%s records=%d refused=%d", self.config.delivery_stream,
                 len(items), len(refused))
        for r in refused:
            verdict = "rejected as invalid" if r.error_code in NON_RETRYABLE_CODES \
                else f"gave up after {r.attempts} attempts"
            reason = f"firehose {verdict}: {r.error_code}" + (f": {r.message}" if r.message else "")
            yield self._letter(r.error_code, reason, r.attempts, envelope_of(items[r.position]))

    def _letter(self, error_type: str, reason: str, attempts: int, envelope: bytes):
        from connectors.dead_letter import DeadLetter, hour_partition
        from pipelines.clock import SYSTEM_CLOCK

        now = SYSTEM_CLOCK.time()
        self.dead_letters.inc()
        log.warning("event=dead_letter error_type=%s source=firehose:%s", error_type, self.config.delivery_stream)
        data = self.mask(envelope) if self.mask is not None else envelope
        letter = DeadLetter(reason=reason, error_type=error_type, source=f"firehose:{self.config.delivery_stream}",
                            attempts=attempts, data=data, time=now)
        return hour_partition(now), letter.to_json().encode("utf-8")


def keyed_by_batch(keys: int, item) -> tuple[str, bytes]:
    """A processed ``(partition_key, partition, envelope)`` as (which of ``keys`` batches it joins, envelope)."""
    return str(zlib.crc32(item[0].encode("utf-8")) % keys), item[2]


def to_firehose(processed, job: PipelineJobConfig):
    """Add the writer after ``processed`` (ApplyPipeline's output); returns its dead-letter stream."""
    config = FirehoseWriterConfig(job.output_firehose or "", job.output_firehose_index,
                                  max_age_s=job.firehose_batch_max_age_s)
    keys = max(1, job.parallelism) * KEYS_PER_SUBTASK
    keyed = processed.map(functools.partial(keyed_by_batch, keys), output_type=PARTITIONED)
    return keyed.key_by(lambda item: item[0], key_type=Types.STRING()) \
        .process(FirehoseBatchWriter(config, job.dead_letter_mask), output_type=PARTITIONED) \
        .name(f"firehose:{config.delivery_stream}")
