"""The Kinesis consumer: shard discovery, one reader per readable shard, checkpoints.

::

    async with KinesisConsumer(ConsumerConfig("orders"), checkpoints=FileCheckpointStore("cp.json")) as consumer:
        async for batch in consumer.batches():
            process(batch.records)
            await consumer.checkpoint(batch)     # at-least-once: only after processing

A coordinator task lists the shards (every ``discovery_interval_s`` and as
soon as a shard's end is checkpointed), works out which are readable (parents
drained first, see ``shards.py``), claims their leases from the checkpoint
store and runs one reader task per owned shard.  Readers put batches on one
bounded queue; ``batches()`` hands them out in per-shard order.

When a lease is lost (another worker took it), that shard's reader stops and
its queued batches are dropped; a later ``checkpoint`` of one of its batches
is ignored (and logged), because the new owner re-reads from the last
checkpoint: records are delivered at least once, never lost.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator

from prometheus_client import CollectorRegistry

from connectors.clients import LazyClient
from connectors.dead_letter import DeadLetter, DeadLetterSink
from connectors.kinesis.aggregation import AggregationError
from connectors.kinesis.batches import ConsumedRecord, ConsumerConfig, ShardBatch, StartPosition
from connectors.kinesis.checkpoints import (Checkpoint, CheckpointStore, FileCheckpointStore, LeaseLostError,
                                            MemoryCheckpointStore)
from connectors.kinesis.efo import EfoShardReader, register_consumer
from connectors.kinesis.leases import DynamoDBLeaseTable
from connectors.kinesis.reader import ConsumerMetrics, ShardReader
from connectors.kinesis.shards import AT_TIMESTAMP, LATEST, ShardInfo, ShardLineage
from connectors.kinesis.streams import list_shards
from pipelines.clock import SYSTEM_CLOCK, Clock

__all__ = ["ConsumedRecord", "ConsumerConfig", "ConsumerError", "KinesisConsumer", "ShardBatch",
           "CheckpointStore", "FileCheckpointStore", "MemoryCheckpointStore", "DynamoDBLeaseTable"]

log = logging.getLogger("shardline.kinesis.consumer")
_WAKE = object()  # put on the queue to wake batches() after stop() or a failure


class ConsumerError(RuntimeError):
    """The consumer cannot go on; the message says why and what to do."""


class KinesisConsumer:
    def __init__(self, config: ConsumerConfig, *, checkpoints: CheckpointStore | None = None, client: Any = None,
                 clock: Clock = SYSTEM_CLOCK, registry: CollectorRegistry | None = None,
                 dead_letters: DeadLetterSink | None = None) -> None:
        """``checkpoints`` defaults to memory (no resume after a restart); the consumer opens and closes it."""
        self.config = config
        self._store: CheckpointStore = checkpoints if checkpoints is not None else MemoryCheckpointStore()
        self._client = LazyClient("kinesis", client, config.aws)
        self._clock = clock
        self._metrics = ConsumerMetrics.for_registry(registry)
        self._dead_letters = dead_letters
        self._lineage = ShardLineage()
        self._checkpoints: dict[str, Checkpoint] = {}
        self._skipped: set[str] | None = None   # closed shards a fresh LATEST consumer never reads
        self._owned: set[str] = set()
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._generation: dict[str, int] = {}   # bumped when a shard's reader is dropped
        self._queue: asyncio.Queue[Any] = asyncio.Queue(config.max_pending_batches)
        self._wake = asyncio.Event()
        self._coordinator: asyncio.Task[None] | None = None
        self._consumer_arn = ""
        self._error: BaseException | None = None
        self._stopped = False

    async def __aenter__(self) -> "KinesisConsumer":
        try:
            await self._store.open()
            self._checkpoints = await self._store.load()
            if self.config.efo:
                self._consumer_arn = await register_consumer(
                    await self._client.get(), self.config.stream_name, self.config.efo_consumer_name,
                    clock=self._clock, timeout_s=self.config.efo_register_timeout_s)
            await self._coordinate_once()  # the first discovery fails fast (e.g. endpoint unreachable)
        except BaseException:
            await self.stop()
            raise
        self._coordinator = asyncio.create_task(self._coordinate(), name="kinesis-consumer-coordinator")
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.stop()

    # -- the caller's side ----------------------------------------------------
    async def batches(self) -> AsyncIterator[ShardBatch]:
        """De-aggregated batches, in order within a shard, parents drained before children."""
        while True:
            if self._error is not None:
                raise self._error
            if self._stopped:
                return
            item = await self._queue.get()
            if item is _WAKE:
                continue
            generation, batch = item
            if self._generation.get(batch.shard_id) == generation:
                yield batch

    async def checkpoint(self, batch: ShardBatch, record: ConsumedRecord | None = None) -> None:
        """Record that ``batch`` (or the batch up to and including ``record``) was processed."""
        shard_id = batch.shard_id
        position = batch.position() if record is None else record.position
        previous = self._checkpoints.get(shard_id)
        if previous is not None and position.key() <= previous.key():
            return  # an older batch checkpointed late: never move backwards
        if shard_id not in self._owned:
            log.warning("event=checkpoint_skipped reason=lease_lost stream=%s shard_id=%s",
                        self.config.stream_name, shard_id)
            return
        try:
            await self._store.checkpoint(shard_id, position)
        except LeaseLostError:
            log.warning("event=lease_lost stream=%s shard_id=%s", self.config.stream_name, shard_id)
            self._drop_reader(shard_id)
            self._owned.discard(shard_id)
            return
        self._checkpoints[shard_id] = position
        if position.shard_end:
            self._wake.set()  # its children may be readable now
            await self._store.release([shard_id])  # a finished shard needs no owner
            try:  # a closed shard has no lag; a stale value would mislead dashboards
                self._metrics.millis_behind_latest.remove(self.config.stream_name, shard_id)
            except KeyError:
                pass

    @property
    def owned_shards(self) -> frozenset[str]:
        """The shards this worker holds leases for and reads (or has read to their end)."""
        return frozenset(self._owned)

    def snapshot(self) -> dict[str, str]:
        """shard id -> last checkpointed position; ``MemoryCheckpointStore(snapshot)`` resumes from it."""
        return {shard_id: cp.encode() for shard_id, cp in sorted(self._checkpoints.items())}

    async def stop(self) -> None:
        """Stop reading, release leases, close the store and client.  Unprocessed batches are redelivered later."""
        if self._stopped:
            return
        self._stopped = True
        tasks = [t for t in [self._coordinator, *self._readers.values()] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._readers.clear()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(_WAKE)
        try:
            await self._store.release(self._owned)
        except Exception:  # noqa: BLE001 - leases expire anyway; shutting down must not fail on this
            log.warning("event=lease_release_failed stream=%s", self.config.stream_name, exc_info=True)
        self._owned = set()
        await self._store.close()
        await self._client.close()

    # -- coordination ---------------------------------------------------------
    async def _coordinate(self) -> None:
        failures = 0
        while True:
            await self._wait(self.config.discovery_interval_s)
            try:
                await self._coordinate_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a blip must not stop the consumer; a lasting fault must
                failures += 1
                log.warning("event=coordination_failed stream=%s attempt=%d error=%s",
                            self.config.stream_name, failures, type(exc).__name__)
                if failures > self.config.max_transient_retries:
                    self._fail(exc)
                    return

    async def _wait(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
        self._wake.clear()

    async def _coordinate_once(self) -> None:
        client = await self._client.get()
        self._lineage.update(ShardInfo.from_api(s) for s in await list_shards(client, self.config.stream_name))
        if self._skipped is None:
            fresh = not any(shard_id in self._lineage for shard_id in self._checkpoints)
            latest = self.config.initial_position == LATEST
            self._skipped = self._lineage.closed_at_start() if fresh and latest else set()
        # Other workers' checkpoints: their SHARD_ENDs unblock children here.
        self._merge(await self._store.load(), lambda shard_id: shard_id not in self._owned)
        finished = {k for k, cp in self._checkpoints.items() if cp.shard_end} | self._skipped
        readable = self._lineage.readable(finished, started=set(self._checkpoints))
        owned = await self._store.claim([self._lineage.shards[s] for s in readable])
        for shard_id in self._owned - owned:
            if shard_id not in finished:
                log.warning("event=lease_lost stream=%s shard_id=%s", self.config.stream_name, shard_id)
            self._drop_reader(shard_id)
        taken = owned - self._owned
        self._owned = owned
        if taken:  # the previous owner may have checkpointed after our first load
            self._merge(await self._store.load(), lambda shard_id: shard_id in taken)
        for shard_id in sorted(owned - self._readers.keys()):
            self._start_reader(client, shard_id)

    def _merge(self, stored: dict[str, Checkpoint], applies: Any) -> None:
        for shard_id, checkpoint in stored.items():
            if applies(shard_id):
                self._checkpoints[shard_id] = checkpoint

    def _start_reader(self, client: Any, shard_id: str) -> None:
        checkpoint = self._checkpoints.get(shard_id)
        if checkpoint is not None:
            start = StartPosition.resume(checkpoint)
        else:
            kind = self._lineage.start_position(shard_id, self.config.initial_position, self._skipped or set())
            start = StartPosition(kind, timestamp=self.config.at_timestamp if kind == AT_TIMESTAMP else None)
        generation = self._generation.get(shard_id, 0) + 1
        self._generation[shard_id] = generation

        async def emit(batch: ShardBatch) -> None:
            await self._queue.put((generation, batch))

        reader_type = EfoShardReader if self.config.efo else ShardReader
        reader = reader_type(client, self.config, shard_id, start, emit=emit, on_bad_record=self._dead_letter,
                             clock=self._clock, metrics=self._metrics)
        if isinstance(reader, EfoShardReader):
            reader.consumer_arn = self._consumer_arn
        log.info("event=shard_reader_started stream=%s shard_id=%s start=%s",
                 self.config.stream_name, shard_id, start.type)
        task = asyncio.create_task(reader.run(), name=f"kinesis-shard-reader-{shard_id}")
        task.add_done_callback(self._reader_done)
        self._readers[shard_id] = task

    def _drop_reader(self, shard_id: str) -> None:
        self._generation[shard_id] = self._generation.get(shard_id, 0) + 1  # its queued batches are stale now
        task = self._readers.pop(shard_id, None)
        if task is not None:
            task.cancel()

    def _reader_done(self, task: asyncio.Task[None]) -> None:
        # A reader that returned reached SHARD_END; it stays in _readers so it is not
        # restarted while the caller has not checkpointed the end yet.
        if not task.cancelled() and task.exception() is not None:
            self._fail(task.exception())

    def _fail(self, exc: BaseException | None) -> None:
        if self._error is None and exc is not None:
            self._error = exc
            log.error("event=consumer_failed stream=%s error=%s", self.config.stream_name, type(exc).__name__)
        try:
            self._queue.put_nowait(_WAKE)
        except asyncio.QueueFull:
            pass  # the caller is not waiting on an empty queue; it sees the error on its next batch

    async def _dead_letter(self, shard_id: str, record: dict[str, Any], exc: AggregationError) -> None:
        source = f"kinesis:{self.config.stream_name}/{shard_id}/{record['SequenceNumber']}"
        if self._dead_letters is None:
            raise ConsumerError(f"malformed KPL aggregate at {source}: {exc}. Pass dead_letters= to "
                                "KinesisConsumer to set such records aside and go on")
        await self._dead_letters.put(DeadLetter(
            reason=str(exc), error_type=type(exc).__name__, source=source, attempts=0,
            data=bytes(record["Data"]), time=self._clock.time()))
        self._metrics.dead_letters.labels(self.config.stream_name).inc()
