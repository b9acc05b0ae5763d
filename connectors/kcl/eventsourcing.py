"""The event-sourcing pattern as a stream engine's step: one record in, its outputs and dead letters back.

``EventSourcingStep`` decodes each record as every engine does and runs ``EventSourcingPattern`` over it.  Its
outputs go to ``connectors.eventsourcing_outputs.EventSourcingRouter``; what the pattern refused comes back as
a ``DeadLetter`` already (the record's own bytes, or, for an event held behind a gap and refused later, the
event itself), which the router stores with the others.

Where the aggregates live depends on the engine:

- the KCL processor (``jobs.kcl.eventsourcing_processor``) gives an ``AggregateStore``: an aggregate is read
  from the projection table the first time the processor meets it, and the aggregates a batch touched are
  written back, over the version they were read at, when the batch is flushed (``commit``, the router's
  store), so before it is checkpointed.  (Writing them only at checkpoints left a stream's last batches
  unwritten while it was idle: the daemon calls the processor only when records come.)
  A worker that takes a shard (after a crash, a lease move or a reshard) reads on where the table is, and
  the events it replays are duplicates by their version;
- the local runner keeps them in the pattern and in its snapshots (no store).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict
from typing import Any, Iterable

from connectors.dead_letter import DeadLetter
from connectors.eventsourcing_derived import SentBefore, arrival_time, ids_on_stream
from connectors.eventsourcing_store import AggregateStore
from connectors.kinesis.batches import ConsumedRecord
from connectors.kinesis.checkpoints import Checkpoint
from pipelines.clock import Clock
from pipelines.engine import Rejected, kinesis_source, rejection
from pipelines.eventsourcing.outputs import held_event_letter
from pipelines.eventsourcing.pattern import DerivedEvent, EventSourcingPattern, StateChanged
from pipelines.records import RecordValidationError, from_avro, validate

log = logging.getLogger("shardline.eventsourcing")
DEFAULT_CACHED_AGGREGATES = 100_000


class EventSourcingStep:
    """The pattern over consumed records (a KCL pipeline), and the processor's state (``ProcessorState``)."""

    def __init__(self, pattern: EventSourcingPattern, stream: str, store: AggregateStore | None = None, *,
                 derived_stream: str | None = None, kinesis: Any = None,
                 cached_aggregates: int = DEFAULT_CACHED_AGGREGATES) -> None:
        self.pattern = pattern
        self.stream = stream
        self.store = store
        self.derived_stream = derived_stream
        self.kinesis = kinesis
        self.cached_aggregates = cached_aggregates
        """With a store, aggregates kept in memory after a commit at most: the table is the state, so those
        met least recently are dropped and read again when they come back (a stream of many aggregates would
        otherwise hold every one it ever met)."""
        self.touched: set[str] = set()
        """Aggregates changed since the last commit (a store's writes)."""
        self.recent: OrderedDict[str, None] = OrderedDict()
        """Aggregates in memory, the one met least recently first."""
        self.sent = SentBefore()
        """Derived events on their stream already, sent before a crash: the replay skips them
        (``connectors.eventsourcing_derived``)."""

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
            self.recent[aggregate_id] = None
            self.recent.move_to_end(aggregate_id)
        return self.letters(self.pattern.on_record(record), source, consumed.data, payload)

    def letters(self, outputs: Iterable[Any], source: str, data: bytes, payload: Any = None) -> list[Any]:
        """``outputs`` with each ``Rejected`` turned into its dead letter (and its aggregate marked touched:
        a gap that timed out changed what the aggregate holds), less derived events sent before a crash."""
        routed = []
        for output in outputs:
            if isinstance(output, DerivedEvent):
                if not (self.sent.ids and self.sent.seen(output.event_id)):
                    routed.append(output)
            elif isinstance(output, Rejected):
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
        self.evict()

    def evict(self) -> None:
        """Drop the aggregates met least recently past ``cached_aggregates``, all of them written.  One with
        events held behind a gap stays: its timeout is the pattern's to keep (``tick``)."""
        aggregates = self.pattern.aggregates
        excess = len(aggregates) - self.cached_aggregates
        if self.store is None or excess <= 0:
            return
        for aggregate_id in list(itertools.islice(self.recent, excess)):
            aggregate = aggregates.get(aggregate_id)
            if aggregate is not None and (aggregate.blocked_since is not None or aggregate_id in self.touched):
                self.recent.move_to_end(aggregate_id)
                continue
            del self.recent[aggregate_id]
            aggregates.pop(aggregate_id, None)
            self.store.forget(aggregate_id)

    # --- ProcessorState -------------------------------------------------------------------------------

    def restore(self, shard_id: str, position: Checkpoint | None) -> None:
        """A processor takes the shard: what it knew of aggregates may be stale; read them again as they come.
        Derived events sent after the checkpoint (before the crash) are read back, to be skipped once."""
        if self.store is not None:
            self.store.forget()
            self.pattern.aggregates.clear()
            self.recent.clear()
        if position is None or position.shard_end or not self.derived_stream or self.kinesis is None:
            return
        since = arrival_time(self.kinesis, self.stream, shard_id, position.sequence_number)
        if since is not None:
            self.read_back(since)

    def read_back(self, since_s: float) -> None:
        """Skip, once each, the derived events on the derived stream since ``since_s`` (a restart's replay)."""
        self.sent = SentBefore(ids_on_stream(self.kinesis, self.derived_stream, since_s))

    def save(self, shard_id: str, position: Checkpoint) -> None:
        """Before a checkpoint: every flush wrote the aggregates already; this writes any left (none)."""
        self._commit_now()

    def finish(self) -> Iterable[Any]:
        """The shard ended (a reshard): its aggregates are written, held events with them, for the child."""
        self._commit_now()
        return ()

    def _commit_now(self) -> None:
        # Called by the processor between batches, when its event loop is not running.
        asyncio.run(self.commit())
