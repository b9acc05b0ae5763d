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

Resharding.  ListShards runs every ``shard_refresh_s``, after errors (at most
every ``shard_refresh_after_error_s``), and when PutRecords names a shard the
map does not know.  When the open shards changed, the producer lets the calls
in flight finish, then re-routes what it holds to the new shards (aggregates
are unpacked and repacked in order), so an aggregate does not mix shards:
readers that filter by hash range (the KCL) drop records that sit on the wrong
shard.  An aggregate that Kinesis put on another shard than predicted (the map
changed under it) holds its domain back; once the new map is known, its records
that belong elsewhere are sent again, ahead of the domain's later records.

Backpressure: ``put`` waits while ``max_buffered_records`` user records (or
``max_buffered_bytes``) are accepted but not yet acknowledged.  Delivery
failures never raise from ``put``: records that exhaust ``max_attempts`` are
collected and raised as one ``ProducerError`` (with every ``FailedRecord``) by
the next ``flush`` or ``close``.  A fatal error (access denied, stream deleted)
stops the producer: ``put`` raises from then on, and everything it held is
reported the same way.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import weakref
from typing import Any

import botocore.exceptions
from prometheus_client import CollectorRegistry

from connectors.aws import CONNECTION_ERRORS, error_code, is_throttling, unreachable
from connectors.backoff import full_jitter
from connectors.clients import LazyClient
from connectors.kinesis.aggregation import (MAX_HASH_KEY, MAX_PARTITION_KEY_CHARS, MAX_RECORD_BYTES,
                                            AggregatedRecord, AggregationError, RecordAggregator)
from connectors.kinesis.backlog import DomainBacklog, PendingRecord
from connectors.kinesis.producer_types import (FailedRecord, ProducerConfig, ProducerError, ProducerStats,
                                               RecordTooLargeError, producer_metrics)
from connectors.kinesis.routing import ShardMap, ShardPacer
from connectors.kinesis.streams import list_shards
from pipelines.clock import SYSTEM_CLOCK, Clock

__all__ = ["KinesisProducer", "ProducerConfig", "ProducerError", "RecordTooLargeError", "FailedRecord",
           "ProducerStats"]

log = logging.getLogger("shardline.kinesis.producer")

_md5 = hashlib.md5
# Whole-call failures worth retrying besides throttling: the request may not have reached Kinesis.
_TRANSIENT = (asyncio.TimeoutError, ConnectionError, OSError, botocore.exceptions.HTTPClientError,
              botocore.exceptions.ReadTimeoutError)


class KinesisProducer:
    """Writes records to one stream.  Use as ``async with KinesisProducer(config) as p: await p.put(...)``."""

    def __init__(self, config: ProducerConfig, *, client: Any = None, clock: Clock = SYSTEM_CLOCK,
                 registry: CollectorRegistry | None = None) -> None:
        self.config = config
        self._client = LazyClient("kinesis", client, config.aws)
        self._clock = clock
        self._rng = random.Random(config.seed)
        self._pacer = ShardPacer(config.shard_records_per_s, config.shard_bytes_per_s, config.pacing_burst_s, clock)
        self._backlog = DomainBacklog(self._shard_of, self._pacer, clock, max_batch_records=config.max_batch_records,
                                      max_batch_bytes=config.max_batch_bytes)
        metrics = producer_metrics(registry)
        stream = config.stream_name
        self._m_records = metrics.records.labels(stream)
        self._m_kinesis = metrics.kinesis_records.labels(stream)
        self._m_retries = metrics.retries.labels(stream)
        self._m_failed = metrics.failed.labels(stream)
        self._m_latency = metrics.latency.labels(stream)
        me = weakref.ref(self)
        metrics.queue_depth.labels(stream).set_function(lambda: getattr(me(), "_buffered_records", 0))

        self._map: ShardMap | None = None
        self._pending_map: ShardMap | None = None  # applied once nothing is in flight
        self._last_refresh = float("-inf")
        self._refreshing = False
        self._aggregators: dict[str, RecordAggregator] = {}
        self._opened_at: dict[str, float] = {}
        # Aggregates Kinesis put on another shard than the map predicted (it changed): (record, actual shard).
        self._misplaced: list[tuple[PendingRecord, str]] = []
        self._buffered_records = 0  # accepted and not yet acknowledged or given up on (in flight included)
        self._buffered_bytes = 0
        self._in_flight = 0
        self._flushing = 0
        self._failures: list[FailedRecord] = []
        self._fatal: BaseException | None = None
        self._closed = False
        self._accepting = False  # started, not closed, not stopped: put() skips its slow checks
        self._max_records = config.max_buffered_records
        self._max_bytes = config.max_buffered_bytes
        self._add = self._add_aggregated if config.aggregate else self._add_plain
        self._sender: asyncio.Task | None = None
        self._sender_idle = False
        self._start_lock = asyncio.Lock()
        self._wake = asyncio.Event()     # the sender should look again
        self._changed = asyncio.Event()  # a call finished or the producer stopped: flush/put waiters look again
        self._tasks: set[asyncio.Task] = set()
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
            if self._sender is not None:
                return
            if self._closed:
                self._raise_if_unusable()
            try:
                shards = await list_shards(await self._client.get(), self.config.stream_name)
            except Exception as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    raise ProducerError(f"stream {self.config.stream_name!r} does not exist; create it first "
                                        "(e.g. `shardline stream create`)") from exc
                raise
            self._map = ShardMap.from_list_shards(shards)
            self._last_refresh = self._clock.monotonic()
            self._sender = asyncio.get_running_loop().create_task(self._run())
            self._accepting = True
            log.info("event=producer_started stream=%s shards=%d aggregate=%s",
                     self.config.stream_name, len(self._map), self.config.aggregate)

    async def put(self, data: bytes, partition_key: str, explicit_hash_key: str | None = None) -> None:
        """Accept one record; waits while the buffer is full.  Delivery errors surface in flush/close."""
        # The per-record path: kept to flat checks on plain attributes (it runs 100k+ times a second).
        if not self._accepting:
            await self._accept_or_raise()
        if type(data) is not bytes:
            if isinstance(data, str):
                raise TypeError("data must be bytes, not str; encode it first")
            data = bytes(data)
        key_bytes = partition_key.encode("utf-8")
        size = len(data) + len(key_bytes)
        if size > MAX_RECORD_BYTES or not 0 < len(partition_key) <= MAX_PARTITION_KEY_CHARS:
            _refuse(partition_key, size)
        if explicit_hash_key is None:
            hash_key = int.from_bytes(_md5(key_bytes).digest(), "big")
        else:
            hash_key = _parse_hash_key(explicit_hash_key)
        while self._buffered_records >= self._max_records or self._buffered_bytes >= self._max_bytes:
            await self._wait_for_space()
        self._buffered_records += 1
        self._buffered_bytes += size
        self._add(data, partition_key, explicit_hash_key, hash_key, size)
        self._puts += 1
        if not self._puts & 511:
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
            self._accepting = False
            if self._sender is not None:
                self._sender.cancel()
                await asyncio.gather(self._sender, *self._tasks, return_exceptions=True)
            await self._client.close()

    # --- user records into Kinesis records ------------------------------------------------------

    def _shard_of(self, record: PendingRecord) -> str:
        # Aggregating, a record's domain is its shard (as of the map it was packed with).
        return record.domain if self.config.aggregate else self._map.shard_for(record.hash_key)

    def _add_plain(self, data: bytes, key: str, ehk: str | None, hash_key: int, size: int) -> None:
        entry = {"Data": data, "PartitionKey": key}
        if ehk is not None:
            entry["ExplicitHashKey"] = ehk
        if self._backlog.add(PendingRecord(entry, None, 1, size, hash_key, key)) and self._sender_idle:
            self._wake.set()

    def _add_aggregated(self, data: bytes, key: str, ehk: str | None, hash_key: int, size: int) -> None:
        shard = self._map.shard_for(hash_key)
        aggregator = self._aggregators.get(shard)
        if aggregator is None:
            aggregator = self._aggregators[shard] = RecordAggregator(self.config.aggregation_max_bytes)
            self._opened_at[shard] = self._clock.monotonic()
            if self._sender_idle:
                self._wake.set()  # it sleeps with nothing due: this aggregate's linger starts now
        try:
            sealed = aggregator.append(key, data, ehk)
        except AggregationError:
            # Too big to aggregate: send it alone, after what the shard already holds.
            self._seal(shard)
            entry = {"Data": data, "PartitionKey": key}
            if ehk is not None:
                entry["ExplicitHashKey"] = ehk
            self._enqueue(PendingRecord(entry, None, 1, size, hash_key, shard))
            return
        if sealed is not None:
            self._opened_at[shard] = self._clock.monotonic()
            self._enqueue(_aggregate_record(sealed, shard))

    def _seal(self, shard: str) -> None:
        aggregator = self._aggregators.pop(shard, None)
        self._opened_at.pop(shard, None)
        if aggregator is not None:
            sealed = aggregator.flush()
            if sealed is not None:
                self._enqueue(_aggregate_record(sealed, shard))

    def _enqueue(self, record: PendingRecord) -> None:
        self._backlog.add(record)
        self._wake.set()  # once per aggregate: cheap, and a new aggregate may complete a batch

    # --- the sender -----------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while True:
                await self._nap(self._dispatch())
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - a bug here must not leave put()/flush() waiting forever
            log.exception("event=producer_sender_crashed stream=%s", self.config.stream_name)
            self._stop(exc)

    async def _nap(self, delay: float | None) -> None:
        """Wait until woken, or ``delay`` seconds on the injected clock (None: only until woken)."""
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
        cfg, backlog = self.config, self._backlog
        now = self._clock.monotonic()
        if self._pending_map is not None and not self._in_flight:
            self._apply_map(self._pending_map)
        if now - self._last_refresh >= cfg.shard_refresh_s and self._buffered_records:
            self._refresh()
        waits = []
        next_retry = backlog.release_due(now)
        if next_retry is not None:
            waits.append(next_retry - now)
        if self._aggregators:
            waits.extend(self._seal_lingering(now))
        while backlog.ready_count and self._in_flight < cfg.max_in_flight and self._pending_map is None:
            due_at = backlog.first_ready_at + cfg.linger_s
            # With aggregation a batch is as full as it gets once every shard has something pending.
            full = backlog.full or (cfg.aggregate and len(backlog) >= len(self._map))
            if not (full or self._flushing or not self._in_flight or now >= due_at):
                waits.append(due_at - now)
                break
            batch, paced_s = backlog.take()
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
            if shard in self._backlog and not self._flushing:
                continue  # the shard is busy: keep filling; its completion wakes the sender
            if self._flushing or now >= opened + self.config.linger_s:
                self._seal(shard)
            else:
                waits.append(opened + self.config.linger_s - now)
        return waits

    def _launch(self, batch: list[PendingRecord]) -> None:
        self._in_flight += 1
        self._spawn(self._put_records(batch))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _put_records(self, batch: list[PendingRecord]) -> None:
        started = self._clock.monotonic()
        try:
            client = await self._client.get()
            response = await client.put_records(StreamName=self.config.stream_name,
                                                Records=[record.entry for record in batch])
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

    def _call_done(self, batch: list[PendingRecord], response: dict) -> None:
        results = response.get("Records") or ()
        failed = response.get("FailedRecordCount", 0)
        if len(results) != len(batch):
            self._stop(RuntimeError(f"PutRecords answered {len(results)} entries for {len(batch)} records"), batch)
            return
        records = kinesis_records = size = 0
        known = self._map.shard_id_set
        stale = False
        aggregate = self.config.aggregate
        backlog = self._backlog
        for record, result in zip(batch, results):
            code = result.get("ErrorCode") if failed else None
            if code is not None:
                self._retry_or_fail(record, code, result.get("ErrorMessage", ""))
                continue
            kinesis_records += 1
            shard = result.get("ShardId")
            if shard is not None and shard not in known:
                stale = True
            if aggregate and record.records is not None and shard is not None and shard != record.domain:
                # Its records may belong to several shards now: hold its domain until the new map
                # says which records landed on their own shard; the others are sent again.
                self._misplaced.append((record, shard))
                stale = True
                continue
            records += record.count
            size += record.size
            backlog.settle(record)
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

    def _call_failed(self, batch: list[PendingRecord], exc: Exception) -> None:
        if isinstance(exc, CONNECTION_ERRORS):
            code, message = "EndpointUnreachable", str(unreachable("kinesis", exc))
        elif is_throttling(exc) or isinstance(exc, _TRANSIENT):
            code, message = error_code(exc) or type(exc).__name__, str(exc)
        else:
            code = error_code(exc)
            hint = " (was the stream deleted?)" if code == "ResourceNotFoundException" else ""
            self._stop(RuntimeError(f"PutRecords to {self.config.stream_name!r} failed: "
                                    f"{code or type(exc).__name__}{hint}: {exc}"), batch)
            return
        for record in batch:
            self._retry_or_fail(record, code, message)
        self._refresh(after_error=True)

    def _retry_or_fail(self, record: PendingRecord, code: str, message: str) -> None:
        record.attempts += 1
        if record.attempts < self.config.max_attempts and self._fatal is None:
            self._stats["retries"] += 1
            self._m_retries.inc()
            delay = full_jitter(record.attempts, self.config.backoff_base_s, self.config.backoff_cap_s, self._rng)
            self._backlog.retry_at(record, self._clock.monotonic() + delay)
            return
        failures = [FailedRecord(pk, data, ehk, code, message, record.attempts)
                    for pk, data, ehk in record.user_records()]
        self._record_failures(failures, record.count, record.size)
        log.warning("event=producer_records_failed stream=%s records=%d code=%s attempts=%d",
                    self.config.stream_name, len(failures), code, record.attempts)
        self._backlog.settle(record)

    def _record_failures(self, failures: list[FailedRecord], count: int, size: int) -> None:
        self._failures.extend(failures)
        self._stats["failed"] += len(failures)
        self._m_failed.inc(len(failures))
        self._buffered_records -= count
        self._buffered_bytes -= size

    # --- shard map ------------------------------------------------------------------------------

    def _refresh(self, after_error: bool = False) -> None:
        now = self._clock.monotonic()
        if self._refreshing or (after_error and now - self._last_refresh < self.config.shard_refresh_after_error_s):
            return
        self._refreshing = True
        self._last_refresh = now
        self._spawn(self._list_shards())

    async def _list_shards(self) -> None:
        try:
            shards = await list_shards(await self._client.get(), self.config.stream_name)
            shard_map = ShardMap.from_list_shards(shards)
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
        """Re-route what is held to the new shards; runs with nothing in flight."""
        log.info("event=producer_shards_changed stream=%s shards=%d->%d", self.config.stream_name,
                 len(self._map), len(shard_map))
        self._map, self._pending_map = shard_map, None
        self._pacer.retain(shard_map.shard_ids)
        if not self.config.aggregate:
            self._backlog.reroute()  # a key's shard may have changed; its domain did not
            return
        # Unpack aggregates shard by shard, in order: the records of one key all sit in one old shard.
        # Misplaced aggregates come first: each is older than anything its held-back domain has.
        held: list[tuple[str, bytes, str | None]] = []
        delivered = delivered_bytes = 0
        for record, actual in self._misplaced:
            for pk, data, ehk in record.records:
                key_bytes = pk.encode("utf-8")
                if shard_map.shard_for(_hash_key(key_bytes, ehk)) == actual:
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
        for record in self._backlog.drain():
            held.extend(record.user_records())
        for shard in list(self._aggregators):
            sealed = self._aggregators.pop(shard).flush()
            if sealed is not None:
                held.extend(sealed.entries)
        self._opened_at.clear()
        for pk, data, ehk in held:
            key_bytes = pk.encode("utf-8")
            self._add_aggregated(data, pk, ehk, _hash_key(key_bytes, ehk), len(data) + len(key_bytes))

    # --- failure plumbing -----------------------------------------------------------------------

    def _stop(self, exc: BaseException, batch: list[PendingRecord] = ()) -> None:
        """A fatal error: everything held (and ``batch``) becomes a failure; put() and flush() raise."""
        self._accepting = False
        if self._fatal is None:
            self._fatal = exc
            log.error("event=producer_stopped stream=%s error=%s", self.config.stream_name, exc)
        records = list(batch) + [record for record, _ in self._misplaced] + list(self._backlog.drain())
        self._misplaced.clear()
        for aggregator in self._aggregators.values():
            sealed = aggregator.flush()
            if sealed is not None:
                records.append(_aggregate_record(sealed, ""))
        self._aggregators.clear()
        self._opened_at.clear()
        code = type(exc).__name__
        for record in records:
            failures = [FailedRecord(pk, data, ehk, code, str(exc), record.attempts)
                        for pk, data, ehk in record.user_records()]
            self._record_failures(failures, record.count, record.size)
        self._changed.set()

    def _raise_if_unusable(self) -> None:
        if self._fatal is not None:
            raise ProducerError(f"producer for stream {self.config.stream_name!r} stopped: {self._fatal}",
                                self._failures) from self._fatal
        raise ProducerError(f"producer for stream {self.config.stream_name!r} is closed")

    async def _accept_or_raise(self) -> None:
        if self._sender is None and not self._closed:
            await self.start()
        if self._closed or self._fatal is not None:
            self._raise_if_unusable()

    async def _wait_for_space(self) -> None:
        self._changed.clear()
        self._wake.set()
        await self._changed.wait()
        if self._closed or self._fatal is not None:  # closed or stopped meanwhile: refuse, never drop
            self._raise_if_unusable()


def _aggregate_record(sealed: AggregatedRecord, shard: str) -> PendingRecord:
    entry = {"Data": sealed.data, "PartitionKey": sealed.partition_key, "ExplicitHashKey": sealed.explicit_hash_key}
    return PendingRecord(entry, sealed.entries, len(sealed.entries), sealed.size, int(sealed.explicit_hash_key), shard)


def _hash_key(key_bytes: bytes, explicit_hash_key: str | None) -> int:
    if explicit_hash_key is not None:
        return int(explicit_hash_key)
    return int.from_bytes(_md5(key_bytes).digest(), "big")


def _refuse(partition_key: str, size: int) -> None:
    if size > MAX_RECORD_BYTES:
        raise RecordTooLargeError(
            f"record with partition key {partition_key!r} is {size} bytes (data + partition key); "
            f"Kinesis accepts at most {MAX_RECORD_BYTES}")
    raise ValueError(f"a partition key has 1 to {MAX_PARTITION_KEY_CHARS} characters, got {len(partition_key)}")


def _parse_hash_key(explicit_hash_key: str) -> int:
    # Kinesis' pattern: 0|([1-9]\d{0,38}), at most 2**128-1.
    if not (isinstance(explicit_hash_key, str) and explicit_hash_key.isascii() and explicit_hash_key.isdigit()
            and (explicit_hash_key == "0" or explicit_hash_key[0] != "0")
            and int(explicit_hash_key) <= MAX_HASH_KEY):
        raise ValueError(f"an explicit hash key is a decimal integer from 0 to 2**128-1, got {explicit_hash_key!r}")
    return int(explicit_hash_key)


def _describe(failures: list[FailedRecord]) -> str:
    codes: dict[str, int] = {}
    for failure in failures:
        codes[failure.error_code] = codes.get(failure.error_code, 0) + 1
    summary = ", ".join(f"{code} x{n}" for code, n in sorted(codes.items()))
    attempts = max(f.attempts for f in failures)
    return (f"{len(failures)} records could not be delivered after up to {attempts} attempts ({summary}); "
            "they are in ProducerError.failures")
