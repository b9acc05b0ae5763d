"""The local runner as the time-series engine on a stream: readings from Kinesis to windows, alerts, raw and late.

The same outputs as the KCL processor (``jobs.kcl.timeseries_processor``) through the same sinks
(``TimeseriesOutputs``), and the same state rules:

- each shard has its own pattern (a device's series stay in one shard: producers partition by device id),
  with its own watermark, as each KCL processor has;
- windows stay open across batches, so a checkpoint alone would lose them with the process: every
  ``checkpoint_interval_s`` the pattern's state is saved to ``snapshots``, named by the last record's
  position, then that shard is checkpointed there.  A run started again on the same checkpoint file loads
  that state and reads on: its windows equal those of a run that never stopped, and what it writes again
  has the same keys (idempotent upserts, deterministic ids);
- a closed shard (a reshard) closes its windows at its end, as the KCL processor does.

At the end of the run (``count`` records, or ``idle_timeout_s`` without one) every open window closes and is
written, as the file mode does at the end of input, unless ``close_at_end`` is off.  The state saved before
that stays the one a resumed run loads, so a window closed early is rewritten whole later.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from connectors.dead_letter import DeadLetter
from connectors.kcl.processor import RecordRejected
from connectors.kcl.timeseries import TimeseriesStep
from connectors.kinesis.batches import ShardBatch
from connectors.kinesis.checkpoints import Checkpoint
from connectors.snapshots import open_snapshots
from jobs.local.runner import add_with_backpressure, batches_until_idle
from jobs.local.timeseries_sinks import TimeseriesOutputs
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.engine import kinesis_source
from pipelines.timeseries.config import TimeseriesConfig
from pipelines.timeseries.enrich import DeviceCatalog
from pipelines.timeseries.pattern import TimeseriesPattern, TimeseriesStats

log = logging.getLogger("shardline.timeseries")


@dataclass(frozen=True)
class TimeseriesStreamRun:
    """Where a stream run reads, and where it keeps its place."""

    stream: str
    snapshots: str
    """The pattern's state: s3://bucket/prefix or a folder (``connectors.snapshots``)."""
    checkpoints: Path | None = None
    """The consumer's checkpoint file; None: start at ``start`` every run, and keep no state."""
    application_name: str = "shardline-timeseries"
    start: str = "TRIM_HORIZON"
    at_timestamp: float | None = None
    checkpoint_interval_s: float = 10.0
    """Seconds between a shard's snapshots (and checkpoints); a shard's end always takes one."""
    count: int | None = None
    """Stop after this many records."""
    idle_timeout_s: float | None = None
    """Stop after this many seconds without a record."""
    close_at_end: bool = True
    """Close and write every open window when the run stops."""


async def run_timeseries_stream(run: TimeseriesStreamRun, outputs: TimeseriesOutputs,
                                config: TimeseriesConfig = TimeseriesConfig(), devices: DeviceCatalog | None = None,
                                *, clock: Clock = SYSTEM_CLOCK, registry=None) -> TimeseriesStats:
    """Consume ``run.stream`` through the pattern into ``outputs``; the counts of every shard's pattern, summed."""
    from connectors.kinesis.checkpoints import FileCheckpointStore
    from connectors.kinesis.consumer import ConsumerConfig, KinesisConsumer

    snapshots = open_snapshots(run.snapshots)
    dead_letters = outputs.dead_letter_store(clock=clock)
    router = outputs.router(dead_letters=dead_letters, clock=clock, registry=registry)
    consumer = KinesisConsumer(
        ConsumerConfig(stream_name=run.stream, application_name=run.application_name,
                       initial_position=run.start, at_timestamp=run.at_timestamp),
        checkpoints=FileCheckpointStore(run.checkpoints) if run.checkpoints else None, clock=clock,
        registry=registry, dead_letters=dead_letters)
    steps: dict[str, TimeseriesStep] = {}
    last_saved: dict[str, float] = {}
    unsaved: dict[str, ShardBatch] = {}  # a shard's last batch, until its state is saved and checkpointed
    read = 0

    async def emit(outputs_: list) -> None:
        for output in outputs_:
            await add_with_backpressure(router, output, clock)

    try:
        async with consumer:
            async for batch in batches_until_idle(consumer, run.idle_timeout_s, clock):
                step = steps.get(batch.shard_id)
                if step is None:
                    step = steps[batch.shard_id] = _taken(batch.shard_id, consumer, config, devices, snapshots,
                                                          clock)
                    last_saved[batch.shard_id] = clock.monotonic()
                for consumed in batch.records:
                    read += 1
                    try:
                        await emit(step(consumed))
                    except RecordRejected as exc:
                        position = kinesis_source(run.stream, batch.shard_id, consumed.sequence_number,
                                                  consumed.sub_sequence_number)
                        await dead_letters.put(DeadLetter.of(exc.rejected, position, consumed.data, clock.time()))
                if batch.shard_end:
                    await emit(list(step.finish()))
                if batch.records or batch.shard_end:
                    unsaved[batch.shard_id] = batch
                due = clock.monotonic() - last_saved[batch.shard_id] >= run.checkpoint_interval_s
                if batch.shard_end or (due and batch.shard_id in unsaved):
                    await _checkpoint(unsaved.pop(batch.shard_id), step, router, consumer)
                    last_saved[batch.shard_id] = clock.monotonic()
                if run.count is not None and read >= run.count:
                    break
            # Where the run stops: save every shard's state at its last record and checkpoint there, then (by
            # default) close the windows still open, so what was read is written.
            for shard_id, batch in unsaved.items():
                await _checkpoint(batch, steps[shard_id], router, consumer)
            if run.close_at_end:
                for step in steps.values():
                    await emit(list(step.finish()))
            await router.flush()
    finally:
        try:
            await router.close()
        finally:
            await dead_letters.close()
    total = TimeseriesStats()
    for step in steps.values():
        total.add(step.pattern.stats)
    return total


def _taken(shard_id: str, consumer, config: TimeseriesConfig, devices: DeviceCatalog | None, snapshots,
           clock: Clock) -> TimeseriesStep:
    """A shard's pattern, restored from the state saved at its checkpoint when it has one."""
    step = TimeseriesStep(TimeseriesPattern(config, devices, clock), snapshots)
    saved = consumer.snapshot().get(shard_id)
    step.restore(shard_id, Checkpoint.decode(saved) if saved else None)
    return step


async def _checkpoint(batch: ShardBatch, step: TimeseriesStep, router, consumer) -> None:
    """Flush what the batch gave, save the shard's state as of its last record, then checkpoint there."""
    await router.flush()
    if not batch.shard_end:
        step.save(batch.shard_id, batch.position())
    await consumer.checkpoint(batch)

