"""An asyncio Kinesis producer: batching, optional KPL aggregation, pacing, retries, per-key order.

Ordering rule.  Records are grouped into *ordering domains*: the partition key
without aggregation, the destination shard with aggregation (a shard's records
travel inside that shard's aggregates).  A domain has at most one Kinesis
record in flight; its next record is sent only after the previous one was
acknowledged, or was given up on and reported.  A record that fails is retried
before anything later in its domain, so records of one partition key reach
Kinesis in ``put`` order, across retries too.  (Two records of one domain in
one PutRecords call could not promise that: Kinesis may fail the first and
accept the second.)  Different domains share calls freely, and several calls
run in parallel.  Without aggregation a hot key is thus limited to one record
per round trip; aggregate when one key carries much of the traffic.  Records of
one key given different explicit hash keys go to different shards, where no
reader can order them anyway.

A batch leaves when it is full, when nothing else is in flight, when the oldest
ready record has lingered ``linger_s``, or on ``flush``.  With aggregation,
each shard fills an aggregate of up to ``aggregation_max_bytes`` while its
previous one is in flight, so batches grow with the load.

Resharding.  ListShards runs every ``shard_refresh_s`` and, rate-limited, after
errors.  When the open shards changed, the producer lets the calls in flight
finish, then re-routes what it holds to the new shards (aggregates are
unpacked and repacked in order), so an aggregate never mixes shards, which
readers that filter by hash range (the KCL) would drop records from.
"""
from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import random
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from connectors.aws import CONNECTION_ERRORS, AwsConfig, error_code, is_throttling, unreachable
from connectors.backoff import full_jitter
from connectors.clients import LazyClient
from connectors.kinesis.aggregation import (MAX_HASH_KEY, MAX_PARTITION_KEY_CHARS, MAX_RECORD_BYTES,
                                            AggregatedRecord, AggregationError, RecordAggregator)
from connectors.kinesis.routing import ShardMap, ShardPacer
from connectors.kinesis.streams import list_shards
from pipelines.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger("shardline.kinesis.producer")

_md5 = hashlib.md5
# Per-entry codes PutRecords returns for entries worth sending again (all of them, per the API docs).
RETRYABLE_ENTRY_CODES = frozenset({"ProvisionedThroughputExceededException", "InternalFailure"})


@dataclass(frozen=True)
class ProducerConfig:
    """How a KinesisProducer batches, paces and retries.  Every default is here."""

    stream_name: str
    aggregate: bool = False
    """Pack user records into KPL aggregates per destination shard (consumers must de-aggregate)."""
    aggregation_max_bytes: int = 51_200
    """Largest aggregate (data + partition key); the KPL's default, so a retry resends little."""
    max_batch_records: int = 500
    """Kinesis records per PutRecords call (the API's limit)."""
    max_batch_bytes: int = 5 * 1024 * 1024
    """Bytes per PutRecords call (the API's limit)."""
    linger_s: float = 0.05
    """Longest a ready record waits for a fuller batch while another call is in flight."""
    max_in_flight: int = 8
    """PutRecords calls running at once."""
    max_buffered_records: int = 100_000
    """User records accepted but not yet acknowledged; ``put`` waits beyond this (backpressure)."""
    max_buffered_bytes: int = 64 * 1024 * 1024
    """Bytes accepted but not yet acknowledged; ``put`` waits beyond this (backpressure)."""
    max_attempts: int = 10
    """PutRecords attempts per Kinesis record before its user records are reported as failed."""
    backoff_base_s: float = 0.1
    """First retry waits up to this long (full jitter), doubling per attempt."""
    backoff_cap_s: float = 5.0
    """Longest wait between attempts."""
    shard_records_per_s: float = 900.0
    """Pace per shard, 10% under Kinesis' 1,000 records/s write limit (room for the burst)."""
    shard_bytes_per_s: float = 900_000.0
    """Pace per shard, under Kinesis' 1 MiB/s write limit (room for the burst)."""
    pacing_burst_s: float = 0.2
    """Seconds of pace a quiet shard may send at once."""
    shard_refresh_s: float = 60.0
    """Re-list the shards this often, to follow resharding."""
    shard_refresh_after_error_s: float = 2.0
    """After a failure, re-list the shards if the last listing is older than this."""
    aws: AwsConfig = field(default_factory=lambda: AwsConfig(extra={"parameter_validation": False}))
    """Client settings when the producer builds its own client (shardline validates records itself)."""
    seed: int | None = None
    """Seed for the backoff jitter; None: unpredictable."""

    def __post_init__(self) -> None:
        if not self.stream_name:
            raise ValueError("stream_name is required")
        if not 1 <= self.max_batch_records <= 500:
            raise ValueError("max_batch_records must be between 1 and 500 (the PutRecords limit)")
        if not MAX_RECORD_BYTES <= self.max_batch_bytes <= 5 * 1024 * 1024:
            raise ValueError("max_batch_bytes must be between 1 MiB and 5 MiB (the PutRecords limit)")
        if not 1024 <= self.aggregation_max_bytes <= MAX_RECORD_BYTES:
            raise ValueError(f"aggregation_max_bytes must be between 1024 and {MAX_RECORD_BYTES}")
        if self.max_attempts < 1 or self.max_in_flight < 1 or self.max_buffered_records < 1:
            raise ValueError("max_attempts, max_in_flight and max_buffered_records must be at least 1")


@dataclass(frozen=True)
class FailedRecord:
    partition_key: str = field(repr=False)
    data: bytes = field(repr=False)
    explicit_hash_key: str | None = field(repr=False)
    error_code: str
    error_message: str
    attempts: int


class ProducerError(RuntimeError):
    """Records could not be delivered; ``failures`` holds each one with its last error."""

    def __init__(self, message: str, failures: list[FailedRecord] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or []


class RecordTooLargeError(ValueError):
    """A record is over Kinesis' 1 MiB limit (data + partition key)."""


@dataclass(frozen=True)
class ProducerStats:
    records_sent: int = 0
    kinesis_records_sent: int = 0
    retries: int = 0
    bytes_sent: int = 0
    failed: int = 0


@dataclass(frozen=True)
class _Metrics:
    records: Counter
    kinesis_records: Counter
    retries: Counter
    failed: Counter
    latency: Histogram
    queue_depth: Gauge


_METRICS: "weakref.WeakKeyDictionary[CollectorRegistry, _Metrics]" = weakref.WeakKeyDictionary()


def _metrics(registry: CollectorRegistry | None) -> _Metrics:
    registry = registry or REGISTRY
    metrics = _METRICS.get(registry)
    if metrics is None:
        labels = ["stream"]
        metrics = _METRICS[registry] = _Metrics(
            Counter("shardline_producer_records_total", "User records Kinesis accepted.", labels, registry=registry),
            Counter("shardline_producer_kinesis_records_total", "Kinesis records (aggregates count once) accepted.",
                    labels, registry=registry),
            Counter("shardline_producer_retries_total", "Kinesis records sent again after a failure.",
                    labels, registry=registry),
            Counter("shardline_producer_failed_records_total", "User records given up on after max attempts.",
                    labels, registry=registry),
            Histogram("shardline_producer_put_latency_seconds", "PutRecords call latency.", labels,
                      registry=registry, buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)),
            Gauge("shardline_producer_queue_depth", "User records buffered or in flight.", labels, registry=registry),
        )
    return metrics


class _Unit:
    """One Kinesis record on its way: a plain user record or an aggregate."""

    __slots__ = ("entry", "records", "count", "size", "hash_key", "domain", "attempts")

    def __init__(self, entry: dict, records: list | None, count: int, size: int, hash_key: int, domain: str) -> None:
        self.entry = entry          # the PutRecords request entry
        self.records = records      # aggregated (pk, data, ehk) tuples; None for a plain record
        self.count = count
        self.size = size
        self.hash_key = hash_key
        self.domain = domain
        self.attempts = 0

    def user_records(self) -> list[tuple[str, bytes, str | None]]:
        if self.records is not None:
            return self.records
        return [(self.entry["PartitionKey"], self.entry["Data"], self.entry.get("ExplicitHashKey"))]


class KinesisProducer:
    """Writes records to one stream.  Use as ``async with KinesisProducer(config) as p: await p.put(...)``."""

    def __init__(self, config: ProducerConfig, *, client: Any = None, clock: Clock = SYSTEM_CLOCK,
                 registry: CollectorRegistry | None = None) -> None:
        self.config = config
        self._client = LazyClient("kinesis", client, config.aws)
        self._clock = clock
        self._rng = random.Random(config.seed)
        self._pacer = ShardPacer(config.shard_records_per_s, config.shard_bytes_per_s, config.pacing_burst_s, clock)
        metrics = _metrics(registry)
        stream = config.stream_name
        self._m_records = metrics.records.labels(stream)
        self._m_kinesis = metrics.kinesis_records.labels(stream)
        self._m_retries = metrics.retries.labels(stream)
        self._m_failed = metrics.failed.labels(stream)
        self._m_latency = metrics.latency.labels(stream)
        me = weakref.ref(self)
        metrics.queue_depth.labels(stream).set_function(lambda: getattr(me(), "_buffered_records", 0))

        self._map: ShardMap | None = None
        self._pending_map: ShardMap | None = None
        self._last_refresh = float("-inf")
        self._refreshing = False
        # Ordering domains with something waiting, in flight or backing off -> their waiting units.
        self._domains: dict[str, deque[_Unit]] = {}
        self._ready: dict[str, deque[str]] = {}      # shard id -> ready domains (head unit goes to that shard)
        self._ready_count = 0
        self._ready_bytes = 0
        self._first_ready_at = 0.0
        self._backoff: list[tuple[float, int, str]] = []
        # Aggregates Kinesis put on another shard than the map predicted (it changed): (unit, actual shard).
        self._misplaced: list[tuple[_Unit, str]] = []
        self._backoff_seq = 0
        self._aggregators: dict[str, RecordAggregator] = {}
        self._opened_at: dict[str, float] = {}
        self._buffered_records = 0
        self._buffered_bytes = 0
        self._in_flight = 0
        self._flushing = 0
        self._failures: list[FailedRecord] = []
        self._fatal: BaseException | None = None
        self._closed = False
        self._sender: asyncio.Task | None = None
        self._start_lock = asyncio.Lock()
        self._sender_idle = False
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._calls: set[asyncio.Task] = set()
        self._puts = 0
        self._stats = dict(records_sent=0, kinesis_records_sent=0, retries=0, bytes_sent=0, failed=0)

    # --- public API ---------------------------------------------------------------------------

    async def __aenter__(self) -> "KinesisProducer":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    @property
    def stats(self) -> ProducerStats:
        return ProducerStats(**self._stats)

    async def start(self) -> None:
        """List the shards and start sending; raises EndpointUnreachable if Kinesis cannot be reached."""
        async with self._start_lock:
            if self._sender is None:
                await self._start()

    async def _start(self) -> None:
        if self._closed:
            self._raise_if_unusable()
        client = await self._client.get()
        try:
            shards = await list_shards(client, self.config.stream_name)
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise ProducerError(f"stream {self.config.stream_name!r} does not exist; create it first "
                                    "(e.g. `shardline stream create`)") from exc
            raise
        self._map = ShardMap.from_list_shards(shards)
        self._last_refresh = self._clock.monotonic()
        self._sender = asyncio.get_running_loop().create_task(self._run())
        log.info("event=producer_started stream=%s shards=%d aggregate=%s",
                 self.config.stream_name, len(self._map), self.config.aggregate)

    async def put(self, data: bytes, partition_key: str, explicit_hash_key: str | None = None) -> None:
        """Accept one record; waits while the buffer is full.  Delivery errors surface in flush/close."""
        if self._sender is None:
            await self.start()
        if self._closed or self._fatal is not None:
            self._raise_if_unusable()
        if type(data) is not bytes:
            if isinstance(data, str):
                raise TypeError("data must be bytes, not str; encode it first")
            data = bytes(data)
        key_bytes = partition_key.encode("utf-8")
        size = len(data) + len(key_bytes)
        if size > MAX_RECORD_BYTES:
            raise RecordTooLargeError(
                f"record with partition key {partition_key!r} is {size} bytes (data + partition key); "
                f"Kinesis accepts at most {MAX_RECORD_BYTES}")
        if explicit_hash_key is None:
            if not 0 < len(partition_key) <= MAX_PARTITION_KEY_CHARS:
                raise ValueError(f"a partition key has 1 to {MAX_PARTITION_KEY_CHARS} characters")
            hash_key = int.from_bytes(_md5(key_bytes).digest(), "big")
        else:
            hash_key = _parse_hash_key(explicit_hash_key)
            if not 0 < len(partition_key) <= MAX_PARTITION_KEY_CHARS:
                raise ValueError(f"a partition key has 1 to {MAX_PARTITION_KEY_CHARS} characters")
        while self._buffered_records >= self.config.max_buffered_records or \
                self._buffered_bytes >= self.config.max_buffered_bytes:
            await self._wait_for_space()
        self._buffered_records += 1
        self._buffered_bytes += size
        if self.config.aggregate:
            self._add_aggregated(data, partition_key, explicit_hash_key, hash_key, size)
        else:
            self._add_plain(data, partition_key, explicit_hash_key, hash_key, size)
        self._puts += 1
        if self._puts % 512 == 0:
            # A caller that never blocks would otherwise starve the sender and the HTTP responses.
            await asyncio.sleep(0)

    async def flush(self) -> None:
        """Send everything buffered and wait for it; ProducerError if records failed since the last flush."""
        if self._sender is not None:
            self._flushing += 1
            try:
                while self._in_flight or (self._buffered_records and self._fatal is None):
                    self._changed.clear()
                    self._wake.set()
                    await self._changed.wait()
            finally:
                self._flushing -= 1
        failures, self._failures = self._failures, []
        if self._fatal is not None:
            raise ProducerError(f"producer for stream {self.config.stream_name!r} stopped: {self._fatal}",
                                failures) from self._fatal
        if failures:
            raise ProducerError(_describe(failures), failures)

    async def close(self) -> None:
        """Flush, stop and close the client; raises ProducerError if records could not be delivered."""
        if self._closed:
            return
        try:
            await self.flush()
        finally:
            self._closed = True
            if self._sender is not None:
                self._sender.cancel()
                await asyncio.gather(self._sender, *self._calls, return_exceptions=True)
            await self._client.close()

    # --- routing user records into units ------------------------------------------------------

    def _add_plain(self, data: bytes, key: str, ehk: str | None, hash_key: int, size: int) -> None:
        entry = {"Data": data, "PartitionKey": key}
        if ehk is not None:
            entry["ExplicitHashKey"] = ehk
        unit = _Unit(entry, None, 1, size, hash_key, key)
        waiting = self._domains.get(key)
        if waiting is None:
            self._domains[key] = deque((unit,))
            self._make_ready(key, unit)
        else:
            waiting.append(unit)

    def _add_aggregated(self, data: bytes, key: str, ehk: str | None, hash_key: int, size: int) -> None:
        shard = self._map.shard_for(hash_key)
        aggregator = self._aggregators.get(shard)
        if aggregator is None:
            aggregator = self._aggregators[shard] = RecordAggregator(self.config.aggregation_max_bytes)
            self._opened_at[shard] = self._clock.monotonic()
        try:
            sealed = aggregator.append(key, data, ehk)
        except AggregationError:
            # Too big to aggregate: send it alone, after what the shard already holds.
            self._seal(shard)
            entry = {"Data": data, "PartitionKey": key}
            if ehk is not None:
                entry["ExplicitHashKey"] = ehk
            self._enqueue(_Unit(entry, None, 1, size, hash_key, shard))
            return
        if sealed is not None:
            self._opened_at[shard] = self._clock.monotonic()
            self._enqueue(_aggregate_unit(sealed, shard))

    def _seal(self, shard: str) -> None:
        aggregator = self._aggregators.pop(shard, None)
        self._opened_at.pop(shard, None)
        if aggregator is not None:
            sealed = aggregator.flush()
            if sealed is not None:
                self._enqueue(_aggregate_unit(sealed, shard))

    def _enqueue(self, unit: _Unit) -> None:
        waiting = self._domains.get(unit.domain)
        if waiting is None:
            self._domains[unit.domain] = deque((unit,))
            self._make_ready(unit.domain, unit)
        else:
            waiting.append(unit)
        self._wake.set()

    def _make_ready(self, domain: str, head: _Unit) -> None:
        shard = domain if self.config.aggregate else self._map.shard_for(head.hash_key)
        ready = self._ready.get(shard)
        if ready is None:
            ready = self._ready[shard] = deque()
        ready.append(domain)
        if not self._ready_count:
            self._first_ready_at = self._clock.monotonic()
            if self._sender_idle:
                self._wake.set()
        self._ready_count += 1
        self._ready_bytes += head.size
        if self._ready_count >= self.config.max_batch_records or self._ready_bytes >= self.config.max_batch_bytes:
            self._wake.set()

    # --- the sender -----------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while True:
                delay = self._dispatch()
                await self._nap(delay)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - a bug here must not hang put()/flush()
            log.exception("event=producer_sender_crashed stream=%s", self.config.stream_name)
            self._stop(exc)

    async def _nap(self, delay: float | None) -> None:
        if self._wake.is_set():
            self._wake.clear()
            await asyncio.sleep(0)
            return
        if delay is None:
            self._sender_idle = True
            try:
                await self._wake.wait()
            finally:
                self._sender_idle = False
        else:
            sleeper = asyncio.ensure_future(self._clock.sleep(delay))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()
        self._wake.clear()

    def _dispatch(self) -> float | None:
        """Launch every call that is due; return seconds until something else becomes due (None: nothing)."""
        now = self._clock.monotonic()
        cfg = self.config
        if self._pending_map is not None and not self._in_flight:
            self._apply_map(self._pending_map)
        waits = []
        if now - self._last_refresh >= cfg.shard_refresh_s and self._buffered_records:
            self._refresh()
        while self._backoff and self._backoff[0][0] <= now:
            _, _, domain = heapq.heappop(self._backoff)
            self._make_ready(domain, self._domains[domain][0])
        if self._backoff:
            waits.append(self._backoff[0][0] - now)
        if self._aggregators:
            waits.extend(self._seal_lingering(now))
        while self._ready_count and self._in_flight < cfg.max_in_flight and self._pending_map is None:
            due_at = self._first_ready_at + cfg.linger_s
            full = self._ready_count >= cfg.max_batch_records or self._ready_bytes >= cfg.max_batch_bytes or \
                (cfg.aggregate and len(self._domains) >= len(self._map))
            if not (full or self._flushing or not self._in_flight or now >= due_at):
                waits.append(due_at - now)
                break
            batch, paced_s = self._take()
            if paced_s is not None:
                waits.append(paced_s)
            if not batch:
                break
            self._launch(batch)
        if self._refreshing or (self._pending_map is not None and self._in_flight):
            return None  # their completion wakes the sender
        # At least 1 ms: a float clock near 1.7e9 s cannot advance by less than ~2e-7 s.
        return max(0.001, min(waits)) if waits else None

    def _seal_lingering(self, now: float) -> list[float]:
        """Seal aggregates that waited ``linger_s`` for a shard with nothing queued; return other waits."""
        waits = []
        for shard, opened in list(self._opened_at.items()):
            if shard in self._domains and not self._flushing:
                continue  # the shard is busy: keep filling; its completion wakes the sender
            if self._flushing or now >= opened + self.config.linger_s:
                self._seal(shard)
            else:
                waits.append(opened + self.config.linger_s - now)
        return waits

    def _take(self) -> tuple[list[_Unit], float | None]:
        """One batch: at most one unit per ready domain, round robin over shards, within each shard's pace."""
        cfg = self.config
        batch: list[_Unit] = []
        room_records, room_bytes = cfg.max_batch_records, cfg.max_batch_bytes
        paced_s = None
        for shard in list(self._ready):
            ready = self._ready[shard]
            allowance = self._pacer.allowance(shard)
            taken_records = taken_bytes = 0
            while ready and allowance > 0 and room_records > 0:
                head = self._domains[ready[0]][0]
                if head.size > room_bytes:
                    room_records = 0  # the batch is full by size
                    break
                ready.popleft()
                unit = self._domains[head.domain].popleft()
                batch.append(unit)
                allowance -= 1
                room_records -= 1
                room_bytes -= unit.size
                taken_records += 1
                taken_bytes += unit.size
                self._ready_count -= 1
                self._ready_bytes -= unit.size
            if taken_records:
                self._pacer.spend(shard, taken_records, taken_bytes)
            if ready:
                if allowance <= 0:
                    wait = self._pacer.wait_s(shard)
                    paced_s = wait if paced_s is None else min(paced_s, wait)
                # Move the shard to the back, so the next batch starts with another one.
                del self._ready[shard]
                self._ready[shard] = ready
            else:
                del self._ready[shard]
            if room_records <= 0:
                break
        if self._ready_count:
            self._first_ready_at = self._clock.monotonic()
        return batch, paced_s

    def _launch(self, batch: list[_Unit]) -> None:
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._put_records(batch))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _put_records(self, batch: list[_Unit]) -> None:
        started = self._clock.monotonic()
        try:
            client = await self._client.get()
            response = await client.put_records(StreamName=self.config.stream_name,
                                                Records=[unit.entry for unit in batch])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - sorted into retryable and fatal just below
            self._call_failed(batch, exc)
        else:
            self._m_latency.observe(self._clock.monotonic() - started)
            self._call_done(batch, response)
        finally:
            self._in_flight -= 1
            self._changed.set()
            self._wake.set()

    def _call_done(self, batch: list[_Unit], response: dict) -> None:
        results = response.get("Records") or ()
        failed = response.get("FailedRecordCount", 0)
        if len(results) != len(batch):
            self._stop(RuntimeError(f"PutRecords answered {len(results)} entries for {len(batch)} records"),
                       batch)
            return
        records = kinesis_records = size = 0
        known = self._map.shard_id_set
        stale = False
        aggregate = self.config.aggregate
        for unit, result in zip(batch, results):
            code = result.get("ErrorCode") if failed else None
            if code is None:
                if aggregate and unit.records is not None and result.get("ShardId") != unit.domain:
                    # Its records may belong to several shards now: hold its domain until the new map
                    # says which records landed on the right shard; the others are sent again.
                    self._misplaced.append((unit, result.get("ShardId", "")))
                    kinesis_records += 1
                    stale = True
                    continue
                records += unit.count
                kinesis_records += 1
                size += unit.size
                if not stale and result.get("ShardId") not in known:
                    stale = True
                self._settled(unit)
            else:
                self._retry_or_fail(unit, code, result.get("ErrorMessage", ""))
        self._buffered_records -= records
        self._buffered_bytes -= size
        stats = self._stats
        stats["records_sent"] += records
        stats["kinesis_records_sent"] += kinesis_records
        stats["bytes_sent"] += size
        self._m_records.inc(records)
        self._m_kinesis.inc(kinesis_records)
        if failed or stale:
            self._refresh(after_error=not self._misplaced)

    def _call_failed(self, batch: list[_Unit], exc: Exception) -> None:
        if isinstance(exc, CONNECTION_ERRORS):
            code, message = "EndpointUnreachable", str(unreachable("kinesis", exc))
        elif is_throttling(exc) or isinstance(exc, asyncio.TimeoutError) or _is_transport_error(exc):
            code, message = error_code(exc) or type(exc).__name__, str(exc)
        else:
            code = error_code(exc)
            hint = " (the stream was deleted?)" if code == "ResourceNotFoundException" else ""
            self._stop(RuntimeError(f"PutRecords to {self.config.stream_name!r} failed: "
                                    f"{code or type(exc).__name__}{hint}: {exc}"), batch)
            return
        for unit in batch:
            self._retry_or_fail(unit, code, message)
        self._refresh(after_error=True)

    def _settled(self, unit: _Unit) -> None:
        """The unit is done (sent or given up on): release its domain's next unit."""
        waiting = self._domains.get(unit.domain)
        if waiting:
            self._make_ready(unit.domain, waiting[0])
        elif waiting is not None:
            del self._domains[unit.domain]

    def _retry_or_fail(self, unit: _Unit, code: str, message: str) -> None:
        unit.attempts += 1
        if unit.attempts >= self.config.max_attempts or self._fatal is not None:
            failures = [FailedRecord(pk, data, ehk, code, message, unit.attempts)
                        for pk, data, ehk in unit.user_records()]
            self._failures.extend(failures)
            self._stats["failed"] += len(failures)
            self._m_failed.inc(len(failures))
            self._buffered_records -= unit.count
            self._buffered_bytes -= unit.size
            log.warning("event=producer_records_failed stream=%s records=%d code=%s attempts=%d",
                        self.config.stream_name, len(failures), code, unit.attempts)
            self._settled(unit)
            return
        self._stats["retries"] += 1
        self._m_retries.inc()
        self._domains[unit.domain].appendleft(unit)
        delay = full_jitter(unit.attempts, self.config.backoff_base_s, self.config.backoff_cap_s, self._rng)
        self._backoff_seq += 1
        heapq.heappush(self._backoff, (self._clock.monotonic() + delay, self._backoff_seq, unit.domain))

    # --- shard map ------------------------------------------------------------------------------

    def _refresh(self, after_error: bool = False) -> None:
        now = self._clock.monotonic()
        if self._refreshing or (after_error and now - self._last_refresh < self.config.shard_refresh_after_error_s):
            return
        self._refreshing = True
        self._last_refresh = now
        task = asyncio.get_running_loop().create_task(self._list_shards())
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _list_shards(self) -> None:
        try:
            shard_map = ShardMap.from_list_shards(await list_shards(await self._client.get(),
                                                                    self.config.stream_name))
            if shard_map != self._map or self._misplaced:
                self._pending_map = shard_map
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - keep the old map and try again later
            log.warning("event=producer_list_shards_failed stream=%s error=%s", self.config.stream_name,
                        error_code(exc) or type(exc).__name__)
        finally:
            self._refreshing = False
            self._wake.set()

    def _apply_map(self, shard_map: ShardMap) -> None:
        """Re-route everything held to the new shards; runs with nothing in flight."""
        log.info("event=producer_shards_changed stream=%s shards=%d->%d", self.config.stream_name,
                 len(self._map), len(shard_map))
        self._map, self._pending_map = shard_map, None
        self._pacer.retain(shard_map.shard_ids)
        ready_domains = [d for shard in self._ready.values() for d in shard]
        self._ready.clear()
        self._ready_count = self._ready_bytes = 0
        if not self.config.aggregate:
            for domain in ready_domains:  # a key's shard may have changed
                self._make_ready(domain, self._domains[domain][0])
            return
        # Unpack aggregates shard by shard, in order; the records of one key all sit in one old shard.
        # Misplaced aggregates come first: each is older than anything its blocked domain holds.
        held: list[tuple[str, bytes, str | None]] = []
        delivered = delivered_bytes = 0
        for unit, actual in self._misplaced:
            for pk, data, ehk in unit.records:
                key_bytes = pk.encode("utf-8")
                hash_key = int(ehk) if ehk is not None else int.from_bytes(_md5(key_bytes).digest(), "big")
                if shard_map.shard_for(hash_key) == actual:
                    delivered += 1
                    delivered_bytes += len(data) + len(key_bytes)
                else:
                    held.append((pk, data, ehk))
        self._misplaced.clear()
        self._buffered_records -= delivered
        self._buffered_bytes -= delivered_bytes
        self._stats["records_sent"] += delivered
        self._stats["bytes_sent"] += delivered_bytes
        self._m_records.inc(delivered)
        for waiting in self._domains.values():
            for unit in waiting:
                held.extend(unit.user_records())
        for shard in list(self._aggregators):
            sealed = self._aggregators.pop(shard).flush()
            if sealed is not None:
                held.extend(sealed.entries)
        self._domains.clear()
        self._opened_at.clear()
        self._backoff.clear()
        for pk, data, ehk in held:
            key_bytes = pk.encode("utf-8")
            hash_key = int(ehk) if ehk is not None else int.from_bytes(_md5(key_bytes).digest(), "big")
            self._add_aggregated(data, pk, ehk, hash_key, len(data) + len(key_bytes))

    # --- failure plumbing -----------------------------------------------------------------------

    def _stop(self, exc: BaseException, batch: list[_Unit] = ()) -> None:
        """A fatal error: everything held (and ``batch``) becomes a failure; put() and flush() raise."""
        if self._fatal is None:
            self._fatal = exc
            log.error("event=producer_stopped stream=%s error=%s", self.config.stream_name, exc)
        code = type(exc).__name__
        units = list(batch) + [unit for unit, _ in self._misplaced]
        self._misplaced.clear()
        for waiting in self._domains.values():
            units.extend(waiting)
        for aggregator in self._aggregators.values():
            sealed = aggregator.flush()
            if sealed is not None:
                units.append(_aggregate_unit(sealed, ""))
        failed = 0
        for unit in units:
            self._failures.extend(FailedRecord(pk, d, ehk, code, str(exc), unit.attempts)
                                  for pk, d, ehk in unit.user_records())
            failed += unit.count
            self._buffered_records -= unit.count
            self._buffered_bytes -= unit.size
        self._domains.clear()
        self._aggregators.clear()
        self._opened_at.clear()
        self._backoff.clear()
        self._ready.clear()
        self._ready_count = self._ready_bytes = 0
        self._stats["failed"] += failed
        self._m_failed.inc(failed)
        self._changed.set()

    def _raise_if_unusable(self) -> None:
        if self._fatal is not None:
            raise ProducerError(f"producer for stream {self.config.stream_name!r} stopped: {self._fatal}",
                                self._failures) from self._fatal
        raise ProducerError(f"producer for stream {self.config.stream_name!r} is closed")

    async def _wait_for_space(self) -> None:
        self._changed.clear()
        self._wake.set()
        await self._changed.wait()
        if self._fatal is not None:
            self._raise_if_unusable()


def _aggregate_unit(sealed: AggregatedRecord, shard: str) -> _Unit:
    entry = {"Data": sealed.data, "PartitionKey": sealed.partition_key, "ExplicitHashKey": sealed.explicit_hash_key}
    return _Unit(entry, sealed.entries, len(sealed.entries), sealed.size, int(sealed.explicit_hash_key), shard)


def _parse_hash_key(explicit_hash_key: str) -> int:
    try:
        value = int(explicit_hash_key)
    except (TypeError, ValueError):
        value = -1
    if not 0 <= value <= MAX_HASH_KEY or not explicit_hash_key.isdigit():
        raise ValueError(f"an explicit hash key is a decimal integer from 0 to 2**128-1, got {explicit_hash_key!r}")
    return value


def _is_transport_error(exc: BaseException) -> bool:
    # aiohttp and botocore raise these for dropped connections and timeouts mid-request: transient.
    import botocore.exceptions

    return isinstance(exc, (botocore.exceptions.HTTPClientError, botocore.exceptions.ReadTimeoutError,
                            ConnectionError, OSError))


def _describe(failures: list[FailedRecord]) -> str:
    codes: dict[str, int] = {}
    for failure in failures:
        codes[failure.error_code] = codes.get(failure.error_code, 0) + 1
    summary = ", ".join(f"{code} x{n}" for code, n in sorted(codes.items()))
    attempts = max(f.attempts for f in failures)
    return (f"{len(failures)} records could not be delivered after up to {attempts} attempts ({summary}); "
            "they are in ProducerError.failures")
