"""One aggregate's bookkeeping: its state, the last version it consumed, the ids it remembers, what it holds.

>>> from pipelines.eventsourcing.events import Event
>>> aggregate = Aggregate({"n": 0})
>>> aggregate.hold(Event("a", "T", 3, "e-3", "Added", 0), now=10.0)
>>> aggregate.knows(Event("a", "T", 3, "e-3b", "Added", 0)), aggregate.next_held(), aggregate.blocked_since
(True, None, 10.0)
>>> aggregate.consume(Event("a", "T", 1, "e-1", "Added", 0), keep_ids=1)
>>> aggregate.consume(Event("a", "T", 2, "e-2", "Added", 0), keep_ids=1)
>>> aggregate.version, list(aggregate.seen), aggregate.next_held().event_id
(2, ['e-2'], 'e-3')
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from pipelines.eventsourcing.events import Event


@dataclass
class Aggregate:
    state: dict[str, Any]
    version: int = 0
    """The last version consumed: applied, or refused by a rule (which consumes it too)."""
    updated_at: int = 0
    """The occurred_at of the last event applied (epoch milliseconds)."""
    seen: OrderedDict[str, int] = field(default_factory=OrderedDict)
    """Event id -> version, of the last ``keep_ids`` versions consumed, oldest first."""
    held: dict[int, Event] = field(default_factory=dict)
    """Version -> event, of events that came before a version they follow."""
    held_ids: set[str] = field(default_factory=set)
    blocked_since: float | None = None
    """Clock time since when the aggregate has waited for its next version with events held behind it."""

    def knows(self, event: Event) -> bool:
        """True for a repeat: an id it remembers or holds, a version it consumed or holds."""
        return (event.version <= self.version or event.version in self.held or event.event_id in self.seen
                or event.event_id in self.held_ids)

    def consume(self, event: Event, keep_ids: int) -> None:
        self.version = event.version
        seen = self.seen
        seen[event.event_id] = event.version
        oldest_kept = event.version - keep_ids
        while seen and next(iter(seen.values())) <= oldest_kept:
            seen.popitem(last=False)

    def hold(self, event: Event, now: float) -> None:
        self.held[event.version] = event
        self.held_ids.add(event.event_id)
        if self.blocked_since is None:
            self.blocked_since = now

    def next_held(self) -> Event | None:
        """The held event that comes next, taken out of the buffer; None while its version is missing."""
        event = self.held.pop(self.version + 1, None)
        if event is not None:
            self.held_ids.discard(event.event_id)
        return event

    def release_all(self) -> list[Event]:
        """Every held event, in version order, taken out of the buffer; the aggregate no longer waits."""
        events = [self.held[version] for version in sorted(self.held)]
        self.held.clear()
        self.held_ids.clear()
        self.blocked_since = None
        return events

    def to_state(self) -> dict[str, Any]:
        """JSON-ready data.  ``seen`` is the ids alone, oldest first: versions are consumed one after another,
        so the remembered ids are those of the versions up to ``version`` (a third of the bytes of id-version
        pairs, which were most of a snapshot)."""
        return {"state": self.state, "version": self.version, "updated_at": self.updated_at,
                "seen": list(self.seen),
                "held": [self.held[version].as_dict() for version in sorted(self.held)],
                "blocked_since": self.blocked_since}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> "Aggregate":
        held = {event["version"]: Event(**event) for event in data["held"]}
        seen, version = data["seen"], data["version"]
        first = version - len(seen) + 1
        return cls(dict(data["state"]), version, data["updated_at"],
                   OrderedDict((event_id, first + n) for n, event_id in enumerate(seen)), held,
                   {event.event_id for event in held.values()}, data["blocked_since"])
