"""The event-sourcing pattern one aggregate at a time, for an engine that keeps each aggregate in keyed state.

``KeyedPattern`` is what the Flink job's keyed operator (``jobs.flink.eventsourcing_job.ApplyEvents``) calls: it
hands over the aggregate of its current key, read from keyed state, and gets back the aggregate to store and the
outputs, the pattern's own but its ``StateChanged`` (the job writes ``projection`` once a tick; a test runs both
over the same events).
"""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Callable, Iterable

from pipelines.eventsourcing.aggregates import Aggregate
from pipelines.eventsourcing.config import EventSourcingConfig
from pipelines.eventsourcing.events import Event
from pipelines.eventsourcing.pattern import EventSourcingPattern, Output


class ProcessingClock:
    """The pattern's clock, set to Flink's processing time before each call."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now


class KeyedPattern:
    """``EventSourcingPattern`` run one aggregate at a time: a keyed operator hands it the aggregate of its
    current key (from keyed state) and gets back the aggregate to store and the outputs, the pattern's own.

    The pattern keeps every aggregate of a partition; here it holds the current key's aggregate alone
    (``EventSourcingPattern.focus``), so nothing of another key can come out while a key is current (its timers
    bring its own).
    """

    def __init__(self, config: EventSourcingConfig) -> None:
        self.clock = ProcessingClock()
        # No StateChanged an event: the job reads an aggregate's projection when it writes it, once a tick.
        self.pattern = EventSourcingPattern(config, clock=self.clock, state_changes=False)
        self.gap_timeout_s = config.gap_timeout_s

    def _current(self, aggregate_id: str, aggregate: Aggregate | None, now: float) -> EventSourcingPattern:
        self.clock.now = now
        self.pattern.focus(aggregate_id, aggregate)
        return self.pattern

    def on_event(self, aggregate: Aggregate | None, event: Event, now: float
                 ) -> tuple[Aggregate | None, list[Output]]:
        pattern = self._current(event.aggregate_id, aggregate, now)
        outputs = pattern.on_event(event)
        return pattern.aggregates.get(event.aggregate_id), outputs

    def projection(self, aggregate_id: str, aggregate: Aggregate):
        """The aggregate's projection (``EventSourcingPattern.projection``: its version counts an event a rule
        refused too, which changes no state and so comes out as no ``StateChanged``); None before version 1."""
        return self._current(aggregate_id, aggregate, self.clock.now).projection(aggregate_id)

    def tick(self, aggregate_id: str, aggregate: Aggregate, now: float) -> list[Output]:
        """The dead letters of the aggregate's gap if it has stayed open ``gap_timeout_s`` by ``now``."""
        return self._current(aggregate_id, aggregate, now).tick()

    def finish(self, aggregate_id: str, aggregate: Aggregate, now: float) -> list[Output]:
        """End of input for the aggregate: its gap times out if due, and every event still held is refused."""
        return self._current(aggregate_id, aggregate, now).finish()

    def deadline_ms(self, aggregate: Aggregate) -> int | None:
        """When the aggregate's gap times out (epoch ms, rounded up past the pattern's deadline); None: no gap."""
        if aggregate.blocked_since is None:
            return None
        return math.floor((aggregate.blocked_since + self.gap_timeout_s) * 1000) + 1

    def deltas(self) -> list[tuple[str, Decimal]]:
        """What the last ``on_event`` added to the totals per group: its applied events' changes, one by one, as
        the pattern counts them (``EventSourcingPattern.total_changes``), summed."""
        return list(self.pattern.branch_totals().items())


def fingerprint(aggregate: Aggregate | None) -> tuple:
    """What every change of an aggregate changes: a duplicate or a refused type leaves it as it was."""
    if aggregate is None:
        return ()
    return id(aggregate.state), aggregate.version, len(aggregate.held), aggregate.blocked_since


class KnownIds:
    """The ids that have keyed state, bucket by bucket: an aggregate's first event reads no state (a blocking round
    trip to the JVM, about 140 us of CPU and more of waiting) when its id is in no complete set.

    A bucket's ids are read once (``of``, iterating its map state's keys: one round trip for a thousand) and kept
    complete: every id stored after is added (``add``).  An id missing from a complete set has no state.  Past
    ``limit`` ids in all, a bucket's set is dropped, never cut short (one that missed an id would start that
    aggregate afresh), and its ids are read one by one, as without this.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buckets: dict[int, set[str] | None] = {}
        self.count = 0

    def of(self, bucket: int, keys: Callable[[], Iterable[str]]) -> set[str] | None:
        """The bucket's complete set of ids (read with ``keys`` the first time), or None: not kept."""
        if bucket in self.buckets:
            return self.buckets[bucket]
        known: set[str] | None = None
        if self.count < self.limit:
            known = set()
            for key in keys():
                known.add(key)
                if self.count + len(known) > self.limit:
                    known = None
                    break
        if known is not None:
            self.count += len(known)
        self.buckets[bucket] = known
        return known

    def is_new(self, bucket: int, key: str) -> bool:
        """Whether ``key`` surely has no state: the bucket's set is complete and lacks it."""
        known = self.buckets.get(bucket)
        return known is not None and key not in known

    def add(self, bucket: int, key: str) -> set[str] | None:
        """``key`` has state now; the bucket's set after (None once past the limit, or never kept)."""
        known = self.buckets.get(bucket)
        if known is None or key in known:
            return known
        if self.count >= self.limit:
            self.count -= len(known)
            self.buckets[bucket] = None
            return None
        known.add(key)
        self.count += 1
        return known
