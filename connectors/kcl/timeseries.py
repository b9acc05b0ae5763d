"""The time-series pattern as a KCL record processor's pipeline and state (``jobs.kcl.timeseries_processor``).

``TimeseriesStep`` decodes each record as every engine does, runs ``TimeseriesPattern`` over it, and is the
processor's ``ProcessorState``: the pattern's snapshot is saved, named by position, before each checkpoint,
and restored from the one the checkpoint names when a processor takes the shard.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable

from connectors.kcl.processor import RecordRejected
from connectors.kinesis.batches import ConsumedRecord
from connectors.kinesis.checkpoints import Checkpoint
from connectors.snapshots import SnapshotStore
from pipelines.engine import Rejected, rejection
from pipelines.records import RecordValidationError, from_avro, validate
from pipelines.timeseries.pattern import TimeseriesPattern

log = logging.getLogger("shardline.kcl.timeseries")


class TimeseriesStep:
    """The pattern as a KCL pipeline (one record in, its outputs back) and as the processor's state."""

    def __init__(self, pattern: TimeseriesPattern, snapshots: SnapshotStore) -> None:
        self.pattern = pattern
        self.snapshots = snapshots

    def __call__(self, consumed: ConsumedRecord) -> list[Any]:
        try:
            record = validate(from_avro(consumed.data).as_dict())
        except RecordValidationError as exc:
            raise RecordRejected(rejection(exc, "decode")) from None
        outputs = self.pattern.on_record(record)
        if outputs and isinstance(outputs[0], Rejected):
            raise RecordRejected(outputs[0])
        return outputs

    def restore(self, shard_id: str, position: Checkpoint | None) -> None:
        if position is None:
            return
        state = self.snapshots.load(shard_id, position)
        if state is None:
            # A checkpoint without its snapshot: written by another processor, or the snapshots were removed.
            log.warning("event=timeseries_snapshot_missing shard=%s position=%s: windows open at the checkpoint "
                        "start empty", shard_id, position.encode())
            return
        self.pattern.restore(state)
        log.info("event=timeseries_restored shard=%s position=%s", shard_id, position.encode())

    def save(self, shard_id: str, position: Checkpoint) -> None:
        self.snapshots.save(shard_id, position, self.pattern.snapshot())
        self.snapshots.prune(shard_id)

    def finish(self) -> Iterable[Any]:
        return self.pattern.finish()
