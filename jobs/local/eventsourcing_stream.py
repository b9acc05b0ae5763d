"""The local runner as the event-sourcing engine on a stream: events from Kinesis to projections, snapshots and
derived events, resumable, and the rebuilds of ``shardline es rebuild``.

One pattern holds every aggregate of every shard (one process reads them all; a reshard's children are read
after their parents, so an aggregate's events still come in version order).  Every ``snapshot_every_events``
events or ``snapshot_every_s`` seconds the runner flushes its outputs and saves a snapshot
(``pipelines.eventsourcing.snapshots``: Avro, every aggregate plus the positions it reflects) to
``snapshots``; a run started again loads the latest and reads on from its positions.  So the snapshot is the
runner's checkpoint: what it wrote after the last one is written again on a restart, under the same keys
(projection puts only go forward), except derived events: the derived stream is read back from the snapshot's
time, and those already there are not sent again (``connectors.eventsourcing_derived``).

Where it starts (``EventSourcingStreamRun``): the snapshot ``from_snapshot`` names; else the latest at
``snapshots`` (``resume``); else the stream at ``start`` (``TRIM_HORIZON``, ``AT_TIMESTAMP``) with no state.
Shards the snapshot does not know (new since) start at ``TRIM_HORIZON``.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from connectors.eventsourcing_snapshots import SnapshotLocation, read_snapshot
from connectors.kcl.eventsourcing import EventSourcingStep
from connectors.eventsourcing_outputs import EventSourcingOutputs, EventSourcingRouter
from jobs.local.runner import add_with_backpressure, batches_until_idle
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.eventsourcing.config import EventSourcingConfig
from pipelines.eventsourcing.outputs import state_line
from pipelines.eventsourcing.pattern import EventSourcingPattern, EventSourcingStats
from pipelines.eventsourcing.snapshots import Snapshot, decode_snapshot, encode_snapshot

log = logging.getLogger("shardline.eventsourcing")


@dataclass(frozen=True)
class EventSourcingStreamRun:
    stream: str
    snapshots: str | None = None
    """Where snapshots are saved and, with ``resume``, loaded from: s3://bucket/prefix or a folder; None: none
    saved (a rebuild that only writes the projections)."""
    from_snapshot: str | None = None
    """Start from this snapshot (its URL or path) rather than the latest at ``snapshots``."""
    resume: bool = True
    """Start from the latest snapshot at ``snapshots`` when there is one."""
    start: str = "TRIM_HORIZON"
    """Where a run with no snapshot starts: TRIM_HORIZON, LATEST or AT_TIMESTAMP."""
    at_timestamp: float | None = None
    application_name: str = "shardline-eventsourcing"
    output: Path | None = None
    """At the end, the final projections as JSON lines (``es run --output``'s format)."""
    count: int | None = None
    """Stop after this many records."""
    idle_timeout_s: float | None = None
    """Stop after this many seconds without a record."""


async def run_eventsourcing_stream(run: EventSourcingStreamRun, outputs: EventSourcingOutputs,
                                   config: EventSourcingConfig = EventSourcingConfig(), *,
                                   clock: Clock = SYSTEM_CLOCK, registry=None) -> EventSourcingStats:
    from connectors.eventsourcing_store import ProjectionWriter
    from connectors.kinesis.checkpoints import MemoryCheckpointStore
    from connectors.kinesis.consumer import ConsumerConfig, KinesisConsumer

    pattern = EventSourcingPattern(config, clock=clock)
    location = SnapshotLocation(run.snapshots) if run.snapshots else None
    snapshot = _restore(run, pattern, location)
    positions = snapshot.positions if snapshot is not None else None
    step = EventSourcingStep(pattern, run.stream, derived_stream=outputs.derived_stream,
                             kinesis=_kinesis() if outputs.derived_stream else None)
    if snapshot is not None and outputs.derived_stream:
        step.read_back(snapshot.taken_at_ms / 1000)  # what the last run sent after its snapshot is not sent twice
    dead_letters = outputs.dead_letter_store(clock=clock)
    writer = ProjectionWriter(outputs.projection_table, outputs.totals_table) if outputs.projection_table else None

    async def store(changed) -> None:
        if writer is not None:
            await writer.write(changed)
            await writer.write_totals(pattern.branch_totals())

    router = EventSourcingRouter(dead_letters=dead_letters, store=store if writer else None,
                                 derived=outputs.derived_sink(dead_letters=dead_letters, clock=clock,
                                                              registry=registry))
    consumer = KinesisConsumer(
        ConsumerConfig(stream_name=run.stream, application_name=run.application_name,
                       initial_position="TRIM_HORIZON" if positions is not None else run.start,
                       at_timestamp=run.at_timestamp),
        checkpoints=MemoryCheckpointStore(positions or {}), clock=clock, registry=registry,
        dead_letters=dead_letters)
    read = since_snapshot = 0
    last_snapshot = clock.monotonic()

    async def save() -> None:
        nonlocal since_snapshot, last_snapshot
        await router.flush()
        if location is not None:
            data = encode_snapshot(pattern, consumer.snapshot(), taken_at_ms=int(clock.time() * 1000),
                                   stream=run.stream)
            url = location.save(data, int(clock.time() * 1000))
            log.info("event=eventsourcing_snapshot url=%s aggregates=%d bytes=%d", url, len(pattern.aggregates),
                     len(data))
        since_snapshot, last_snapshot = 0, clock.monotonic()

    try:
        async with consumer:
            async for batch in batches_until_idle(consumer, run.idle_timeout_s, clock):
                for consumed in batch.records:
                    read += 1
                    since_snapshot += 1
                    for output in step(consumed):
                        await add_with_backpressure(router, output, clock)
                for output in step.letters(pattern.tick(), f"kinesis:{run.stream}", b""):
                    await add_with_backpressure(router, output, clock)
                await router.flush()
                await consumer.checkpoint(batch)  # in memory: the position the next snapshot records
                if since_snapshot and (since_snapshot >= config.snapshot_every_events
                                       or clock.monotonic() - last_snapshot >= config.snapshot_every_s):
                    await save()
                if run.count is not None and read >= run.count:
                    break
            if since_snapshot:
                await save()
            await router.flush()
    finally:
        try:
            await router.close()
        finally:
            await dead_letters.close()
    if run.output is not None:
        run.output.write_text("".join(json.dumps(state_line(p), separators=(",", ":")) + "\n"
                                      for p in pattern.projections()), encoding="utf-8")
    if writer is not None and writer.stale:
        log.info("event=eventsourcing_projection_replayed skipped=%d (the table held a newer version)", writer.stale)
    return pattern.stats


def _kinesis():
    from connectors.aws import client

    return client("kinesis")


def _restore(run: EventSourcingStreamRun, pattern: EventSourcingPattern,
             location: SnapshotLocation | None) -> Snapshot | None:
    """Load the snapshot a run starts from into ``pattern``; it, or None to start at ``run.start``."""
    url = run.from_snapshot or (location.latest() if location is not None and run.resume else None)
    if url is None:
        return None
    snapshot = decode_snapshot(read_snapshot(url))
    if snapshot.stream and snapshot.stream != run.stream:
        raise ValueError(f"snapshot {url} is of stream {snapshot.stream!r}, not {run.stream!r}")
    pattern.restore(snapshot.state)
    log.info("event=eventsourcing_restored url=%s aggregates=%d shards=%d", url, len(pattern.aggregates),
             len(snapshot.positions))
    return snapshot
