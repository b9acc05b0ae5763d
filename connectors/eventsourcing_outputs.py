"""Where the event-sourcing pattern writes on a stream, wired the same for the KCL processor and the local runner.

- projections: the DynamoDB projection table, one item per aggregate (``connectors.eventsourcing_store``),
  and the totals per group in the totals table;
- derived events (``BalanceChanged``, ``LargeWithdrawal``): the derived stream, partitioned by aggregate id,
  with deterministic ids (``<type>:<source event id>``), so a consumer drops an id it has seen;
- records that are no event, and events refused: the dead letters, masked with the generic PII policy as on
  every engine (an account's owner is personal).

``EventSourcingRouter`` is one sink for all the pattern's outputs.  Its ``flush`` sends the derived events
before it stores the states that made them: a crash between the two sends them again on the replay (the same
ids), and never loses one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from connectors.dead_letter import DeadLetter, DeadLetterSink, open_dead_letters
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.eventsourcing.outputs import derived_record
from pipelines.eventsourcing.pattern import DerivedEvent, StateChanged
from pipelines.pii.dead_letters import DeadLetterMask


@dataclass(frozen=True)
class EventSourcingOutputs:
    dead_letters: str | None = None
    """s3://bucket/prefix or a local JSON-lines file (required)."""
    projection_table: str | None = None
    """DynamoDB table of projections (key aggregate_id)."""
    totals_table: str | None = None
    """DynamoDB table of the totals per group (key group): for the bank, the balance per branch."""
    derived_stream: str | None = None
    """Kinesis stream for derived events."""
    derived_aggregate: bool = True
    """KPL-aggregate derived events (consumers de-aggregate; the KCL and shardline's consumer do).  A bank
    stream derives about one event per event, and without aggregation a derived stream needs as many shards as
    the event stream (1,000 records/s each), and PutRecords calls cost most of the engine's CPU (measured: 300
    of 430 us an event on the KCL processor)."""

    def __post_init__(self) -> None:
        if not self.dead_letters:
            raise ValueError("give a dead-letter destination (s3://bucket/prefix or a file), so records that are "
                             "no event, and events a rule refused, are kept")
        if self.totals_table and not self.projection_table:
            raise ValueError("the totals table goes with a projection table: give --projection-table too")

    def dead_letter_store(self, *, clock: Clock = SYSTEM_CLOCK) -> DeadLetterSink:
        return open_dead_letters(self.dead_letters, clock=clock, mask=DeadLetterMask())  # type: ignore[arg-type]

    def derived_sink(self, *, dead_letters: DeadLetterSink, clock: Clock = SYSTEM_CLOCK, registry=None):
        if not self.derived_stream:
            return None
        from connectors.kinesis.producer import ProducerConfig
        from connectors.sinks.kinesis import KinesisStreamSink

        return KinesisStreamSink(ProducerConfig(stream_name=self.derived_stream, aggregate=self.derived_aggregate),
                                 dead_letters=dead_letters, clock=clock, registry=registry)


class EventSourcingRouter:
    """One sink for the step's outputs: derived events to their stream, dead letters to their store, states
    to ``store`` at each flush (it takes the states changed since the last one; the last per aggregate counts).
    The dead-letter store is the engine's: the router flushes it, the engine closes it."""

    kind = "eventsourcing"

    def __init__(self, *, dead_letters: DeadLetterSink, derived=None,
                 store: Callable[[list[StateChanged]], Awaitable[None]] | None = None) -> None:
        self.dead_letters = dead_letters
        self.derived = derived
        self.store = store
        self._changed: list[StateChanged] = []

    async def add(self, output: Any) -> None:
        if isinstance(output, DeadLetter):
            await self.dead_letters.put(output)
        elif isinstance(output, StateChanged):
            if self.store is not None:
                self._changed.append(output)
        elif isinstance(output, DerivedEvent):
            if self.derived is not None:
                await self.derived.add(derived_record(output))
        else:
            raise TypeError(f"the event-sourcing router takes the pattern's outputs, not a {type(output).__name__}")

    async def flush(self) -> None:
        await self.dead_letters.flush()
        if self.derived is not None:
            await self.derived.flush()
        if self.store is not None:
            changed, self._changed = self._changed, []
            await self.store(changed)

    async def close(self) -> None:
        try:
            await self.flush()
        finally:
            if self.derived is not None:
                await self.derived.close()
