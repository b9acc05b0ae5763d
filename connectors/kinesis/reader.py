"""Reading one shard by polling: GetShardIterator, then GetRecords in a paced loop.

A shard serves 5 GetRecords calls/s to all its polling readers together, so a
reader spaces its calls by ``min_call_interval_s`` and waits longer when it is
at the tip of the shard.  Throttling is retried with backoff for as long as it
lasts; an expired iterator is re-acquired from the last position handed out;
a connection error is retried a few times and then stops the consumer with a
message naming the endpoint.
"""
from __future__ import annotations

import logging
import random
import weakref
from typing import Any, Awaitable, Callable

import botocore.exceptions
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from connectors.aws import CONNECTION_ERRORS, error_code, is_throttling, unreachable
from connectors.backoff import full_jitter
from connectors.kinesis.aggregation import AggregationError
from connectors.kinesis.batches import ConsumerConfig, ShardBatch, StartPosition, user_records
from pipelines.clock import Clock

log = logging.getLogger("shardline.kinesis.reader")

Emit = Callable[[ShardBatch], Awaitable[None]]
OnBadRecord = Callable[[str, dict[str, Any], AggregationError], Awaitable[None]]
TRANSIENT_ERRORS = CONNECTION_ERRORS + (botocore.exceptions.ReadTimeoutError,
                                        botocore.exceptions.ConnectionClosedError)


class ConsumerMetrics:
    """The consumer's prometheus metrics; one set per registry (consumers in one process share it)."""

    _by_registry: "weakref.WeakKeyDictionary[CollectorRegistry, ConsumerMetrics]" = weakref.WeakKeyDictionary()

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["stream", "shard_id"]
        self.millis_behind_latest = Gauge(
            "shardline_consumer_millis_behind_latest", "How far the last read of a shard was behind its tip.",
            labels, registry=registry)
        self.records = Counter("shardline_consumer_records", "User records handed out (after de-aggregation).",
                               labels, registry=registry)
        self.retries = Counter("shardline_consumer_retries", "Kinesis calls retried (throttling, transient errors).",
                               ["stream", "reason"], registry=registry)
        self.dead_letters = Counter("shardline_consumer_dead_letters", "Kinesis records sent to the dead-letter "
                                    "destination (malformed aggregates).", ["stream"], registry=registry)
        self.retention_gaps = Counter(
            "shardline_consumer_retention_gaps", "Shards resumed from a checkpoint older than their trim horizon: the "
            "records between expired unread (Kinesis does not say how many).", labels, registry=registry)

    @classmethod
    def for_registry(cls, registry: CollectorRegistry | None) -> "ConsumerMetrics":
        registry = REGISTRY if registry is None else registry
        if registry not in cls._by_registry:
            cls._by_registry[registry] = cls(registry)
        return cls._by_registry[registry]


class ShardReader:
    """Polls one shard and hands its batches to ``emit`` in order; returns at SHARD_END."""

    def __init__(self, client: Any, config: ConsumerConfig, shard_id: str, start: StartPosition, *,
                 emit: Emit, on_bad_record: OnBadRecord, clock: Clock, metrics: ConsumerMetrics,
                 rng: random.Random | None = None) -> None:
        self.client = client
        self.config = config
        self.shard_id = shard_id
        self.start = start
        self.resume = start
        """Where to re-acquire an iterator: the start, then after the last Kinesis record handed out."""
        self.emit = emit
        self.on_bad_record = on_bad_record
        self.clock = clock
        self.metrics = metrics
        self.rng = rng or random.Random()

    async def run(self) -> None:
        iterator = await self.first_iterator()
        skip = self.resume.skip_through
        last_call = float("-inf")
        while True:
            wait = last_call + self.config.min_call_interval_s - self.clock.monotonic()
            if wait > 0:
                await self.clock.sleep(wait)
            last_call = self.clock.monotonic()
            try:
                response = await self.call("get_records", ShardIterator=iterator,
                                           Limit=self.config.max_records_per_call)
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) != "ExpiredIteratorException":
                    raise
                log.info("event=iterator_expired stream=%s shard_id=%s", self.config.stream_name, self.shard_id)
                iterator = await self.iterator(self.resume)
                continue
            kinesis_records = response.get("Records", [])
            if skip is not None and kinesis_records and (
                    int(kinesis_records[0]["SequenceNumber"]) > int(skip.sequence_number)):
                # The checkpointed record comes first when it is still there: it was trimmed, and maybe more.
                self.retention_gap("the checkpointed record is gone")
                skip = None
            behind = response.get("MillisBehindLatest")
            next_iterator = response.get("NextShardIterator")
            await self.deliver(kinesis_records, behind, next_iterator is None, skip)
            if kinesis_records:
                skip = None  # the resume point is passed
            if next_iterator is None:
                log.info("event=shard_end stream=%s shard_id=%s", self.config.stream_name, self.shard_id)
                return
            iterator = next_iterator
            if not kinesis_records and not behind:
                await self.clock.sleep(self.config.idle_interval_s)

    async def deliver(self, kinesis_records: list[dict[str, Any]], behind: int | None, shard_end: bool,
                      skip: Any = None) -> None:
        """De-aggregate, dead-letter malformed aggregates, update metrics and emit one batch."""
        labels = (self.config.stream_name, self.shard_id)
        if behind is not None:
            self.metrics.millis_behind_latest.labels(*labels).set(behind)
        records, bad = user_records(self.shard_id, kinesis_records, skip)
        for record, exc in bad:
            await self.on_bad_record(self.shard_id, record, exc)
        if records or shard_end:
            self.metrics.records.labels(*labels).inc(len(records))
            await self.emit(ShardBatch(self.shard_id, records, behind, shard_end))
        if kinesis_records:
            self.resume = StartPosition.after(kinesis_records[-1]["SequenceNumber"])

    async def first_iterator(self) -> str:
        """The iterator at the start; a checkpoint Kinesis refuses (a trimmed sequence number) restarts the shard at
        TRIM_HORIZON rather than failing the consumer or retrying it for ever."""
        try:
            return await self.iterator(self.resume)
        except botocore.exceptions.ClientError as exc:
            if self.resume.skip_through is None or error_code(exc) != "InvalidArgumentException":
                raise
        self.retention_gap("Kinesis refused the checkpoint's sequence number")
        self.resume = StartPosition("TRIM_HORIZON")
        return await self.iterator(self.resume)

    def retention_gap(self, why: str) -> None:
        """Counted, and one warning naming the shard; reading goes on from the oldest record there is."""
        self.metrics.retention_gaps.labels(self.config.stream_name, self.shard_id).inc()
        log.warning("event=checkpoint_older_than_trim_horizon stream=%s shard_id=%s why=%r: reading on from the "
                    "shard's oldest record; the records between expired unread", self.config.stream_name,
                    self.shard_id, why)

    async def iterator(self, position: StartPosition) -> str:
        response = await self.call("get_shard_iterator", StreamName=self.config.stream_name,
                                   ShardId=self.shard_id, **position.iterator_args())
        return response["ShardIterator"]

    async def call(self, operation: str, retry_codes: frozenset[str] = frozenset(), **kwargs: Any) -> Any:
        """One Kinesis call, retried with backoff while throttled or briefly unreachable."""
        attempt = transient = 0
        while True:
            try:
                return await getattr(self.client, operation)(**kwargs)
            except Exception as exc:  # noqa: BLE001 - classified below
                if isinstance(exc, TRANSIENT_ERRORS):
                    transient += 1
                    if transient > self.config.max_transient_retries:
                        raise unreachable("kinesis", exc) from exc
                    reason = "transient"
                elif is_throttling(exc) or error_code(exc) in retry_codes:
                    reason = error_code(exc)
                else:
                    raise
                attempt += 1
                self.metrics.retries.labels(self.config.stream_name, reason).inc()
                await self.clock.sleep(full_jitter(attempt, self.config.backoff_base_s,
                                                   self.config.backoff_max_s, self.rng))
