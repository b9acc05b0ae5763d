"""The event-sourcing pattern as a stream engine's step: one record in, its outputs and dead letters back.

``EventSourcingStep`` decodes each record as every engine does and runs ``EventSourcingPattern`` over it.  Its
outputs go to ``jobs.local.eventsourcing_sinks.EventSourcingRouter``; what the pattern refused comes back as
a ``DeadLetter`` already (the record's own bytes, or, for an event held behind a gap and refused later, the
event itself), which the router stores with the others.

Where the aggregates live depends on the engine:

- the KCL processor (``jobs.kcl.eventsourcing_processor``) gives an ``AggregateStore``: an aggregate is read
  from the projection table the first time the processor meets it, and the aggregates touched since the last
  checkpoint are written back, over the version they were read at, just before the next one (``save``).
  A worker that takes a shard (after a crash, a lease move or a reshard) reads on where the table is, and
  the events it replays are duplicates by their version;
- the local runner keeps them in the pattern and in its snapshots (no store).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Iterable

from connectors.dead_letter import DeadLetter
from connectors.eventsourcing_store import AggregateStore
from connectors.kinesis.batches import ConsumedRecord
from connectors.kinesis.checkpoints import Checkpoint
from pipelines.clock import Clock
from pipelines.engine import Rejected, kinesis_source, rejection
from pipelines.eventsourcing.outputs import held_event_letter
from pipelines.eventsourcing.pattern import EventSourcingPattern, StateChanged
from pipelines.records import RecordValidationError, from_avro, validate

log = logging.getLogger("shardline.eventsourcing")


class EventSourcingStep:
    """The pattern over consumed records (a KCL pipeline), and the processor's state (``ProcessorState``)."""

    def __init__(self, pattern: EventSourcingPattern, stream: str, store: AggregateStore | None = None) -> None:
        self.pattern = pattern
        self.stream = stream
        self.store = store
        self.touched: set[str] = set()
        """Aggregates changed since the last commit (a store's writes)."""

    @property
    def clock(self) -> Clock:
        return self.pattern.clock

    def __call__(self, consumed: ConsumedRecord) -> list[Any]:
        source = kinesis_source(self.stream, consumed.shard_id, consumed.sequence_number,
                                consumed.sub_sequence_number)
        try:
            record = validate(from_avro(consumed.data).as_dict())
        except RecordValidationError as exc:
            return [DeadLetter.of(rejection(exc, "decode"), source, consumed.data, self.clock.time())]
        payload = record.payload
        aggregate_id = payload.get("aggregate_id") if isinstance(payload, dict) else None
        if self.store is not None and isinstance(aggregate_id, str):
            if aggregate_id not in self.pattern.aggregates:
                aggregate = self.store.load(aggregate_id)
                if aggregate is not None:
                    self.pattern.adopt(aggregate_id, aggregate)
            self.touched.add(aggregate_id)
        return self.letters(self.pattern.on_record(record), source, consumed.data, payload)

    def letters(self, outputs: Iterable[Any], source: str, data: bytes, payload: Any = None) -> list[Any]:
        """``outputs`` with each ``Rejected`` turned into its dead letter (and its aggregate marked touched:
        a gap that timed out changed what the aggregate holds)."""
        routed = []
        for output in outputs:
            if isinstance(output, Rejected):
                held = held_event_letter(output, payload)
                if held is not None and self.store is not None:
                    self.touched.add(output.event.aggregate_id)  # type: ignore[attr-defined]
                routed.append(DeadLetter.of(output, source + ":held" if held is not None else source,
                                            held if held is not None else data, self.clock.time()))
            else:
                routed.append(output)
        return routed

    async def commit(self, changed: list[StateChanged] | None = None) -> None:
        """Write the aggregates touched since the last commit to the store."""
        if self.store is None or not self.touched:
            return
        touched, self.touched = self.touched, set()
        aggregates = {key: self.pattern.aggregates[key] for key in touched if key in self.pattern.aggregates}
        domain = self.pattern.domain
        await self.store.commit(aggregates, domain.view, domain.status)

    # --- ProcessorState -------------------------------------------------------------------------------

    def restore(self, shard_id: str, position: Checkpoint | None) -> None:
        """A processor takes the shard: what it knew of aggregates may be stale; read them again as they come."""
        if self.store is not None:
            self.store.forget()
            self.pattern.aggregates.clear()

    def save(self, shard_id: str, position: Checkpoint) -> None:
        """Before a checkpoint: write the aggregates touched since the last one.  Once per checkpoint interval,
        not per batch: an aggregate that changed in many batches is written once."""
        self._commit_now()

    def finish(self) -> Iterable[Any]:
        """The shard ended (a reshard): its aggregates are written, held events with them, for the child."""
        self._commit_now()
        return ()

    def _commit_now(self) -> None:
        # Called by the processor between batches, when its event loop is not running.
        asyncio.run(self.commit())
