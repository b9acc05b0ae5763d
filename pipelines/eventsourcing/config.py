"""The event-sourcing pattern's settings, every default in one place.

>>> config = EventSourcingConfig.from_dict({"gap_timeout_s": 60, "large_withdrawal": "2500.50"})
>>> config.gap_timeout_s, config.large_withdrawal, config.remembered_event_ids
(60, Decimal('2500.50'), 10)
>>> EventSourcingConfig.from_dict({"gap_timeout": 60})
Traceback (most recent call last):
...
ValueError: unknown event-sourcing setting 'gap_timeout'; known: gap_timeout_s, large_withdrawal, ...
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping


@dataclass(frozen=True)
class EventSourcingConfig:
    """Order, hold and remember: what ``shardline es run --config`` and the jobs' ``es.*`` properties set."""

    gap_timeout_s: float = 300.0
    """How long (on the pattern's clock) an aggregate waits for a missing version before the events held
    behind it go to the dead letters; the aggregate stays at its last version (a later fill still applies)."""
    large_withdrawal: Decimal = Decimal("10000")
    """A withdrawal of at least this amount also derives a ``LargeWithdrawal`` (read by ``bank.bank_domain``)."""
    remembered_event_ids: int = 10
    """Per aggregate, the event ids of its last this-many versions are remembered, so an event that carries a
    known id under a new version (a producer that numbered its retry again) is a duplicate.  A plain retry
    (same id, same version) is one by its version, however old.  Remembered ids are most of a snapshot's
    bytes: at 1,000 they made a snapshot load slower than replaying the last 15% of the stream."""
    max_held_events: int = 1000
    """Per aggregate, the most events held behind a gap; one more is refused at once (memory stays bounded)."""
    snapshot_every_events: int = 10_000
    """An engine snapshots the pattern's state after this many events (for engines; the pattern ignores it)."""
    snapshot_every_s: float = 60.0
    """... or after this many seconds, whichever comes first (for engines; the pattern ignores it)."""

    def __post_init__(self) -> None:
        for name in ("gap_timeout_s", "snapshot_every_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value)
                                                                                      and value > 0):
                raise ValueError(f"{name} must be a number above 0")
        for name in ("remembered_event_ids", "max_held_events", "snapshot_every_events"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer of 1 or more")
        threshold = self.large_withdrawal
        try:
            threshold = Decimal(repr(threshold) if isinstance(threshold, float) else threshold)
        except (InvalidOperation, TypeError, ValueError):
            raise ValueError("large_withdrawal must be a positive amount") from None
        if isinstance(self.large_withdrawal, bool) or not threshold.is_finite() or threshold <= 0:
            raise ValueError("large_withdrawal must be a positive amount")
        object.__setattr__(self, "large_withdrawal", threshold)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "EventSourcingConfig":
        known = sorted(f.name for f in fields(cls))
        for key in data:
            if key not in known:
                raise ValueError(f"unknown event-sourcing setting {key!r}; known: {', '.join(known)}")
        return cls(**dict(data))
