"""A domain's rules as plain functions: how each event type changes an aggregate's state, and what it derives.

User code registers functions on a ``Domain`` and holds no framework type: a state is a dict of JSON values,
an event's data a read-only map, a derived event a ``(type, data)`` pair.  A business rule that refuses an
event raises ``DomainRuleError`` with fixed wording (never a value), which becomes the event's dead letter.

>>> counter = Domain("counter", aggregate_type="Counter")
>>> @counter.initial
... def zero():
...     return {"count": 0, "status": "open"}
>>> @counter.applies("Added")
... def added(state, data, event):
...     if data.get("n", 1) < 1:
...         raise DomainRuleError("must be a positive integer", "data.n")
...     state["count"] += data.get("n", 1)
>>> @counter.derives("Added")
... def milestones(before, after, event):
...     if before["count"] < 10 <= after["count"]:
...         yield "ReachedTen", {"count": after["count"]}
>>> from pipelines.eventsourcing.events import Event
>>> event = Event("c-1", "Counter", 1, "e-1", "Added", 0, {"n": 12})
>>> after = counter.apply(counter.new_state(), event)
>>> after, counter.derive(counter.new_state(), after, event), counter.view(after), counter.status(after)
({'count': 12, 'status': 'open'}, [('ReachedTen', {'count': 12})], {'count': 12}, 'open')
>>> counter.apply(after, Event("c-1", "Counter", 2, "e-2", "Removed", 0))
Traceback (most recent call last):
...
pipelines.eventsourcing.domain.DomainRuleError: field 'type': unknown event type
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Callable, Iterable, Optional

from pipelines.errors import FieldError
from pipelines.eventsourcing.events import Event

State = dict[str, Any]
ApplyFn = Callable[[State, Mapping[str, Any], Event], Optional[State]]
"""``fn(state, data, event)``: the new state, returned or made in place (the function gets a copy)."""
DeriveFn = Callable[[Mapping[str, Any], Mapping[str, Any], Event], Optional[Iterable[tuple[str, Mapping[str, Any]]]]]
"""``fn(before, after, event)``: the derived events, ``(type, data)`` pairs, of an event that applied."""


class DomainRuleError(FieldError):
    """A business rule refuses an event: a fixed reason (and the field it is about, if one), never a value."""

    def __init__(self, reason: str, field: str | None = None) -> None:  # a rule's reason comes first
        super().__init__(field, reason)


class Domain:
    """The registry of one aggregate type's rules.

    ``status_field``: the state key that holds the aggregate's status (projections carry it apart from the
    state).  ``total_of`` and ``grouped_by``: the cross-aggregate read model, the sum of the state's
    ``total_of`` values (exact decimals) per value of its ``grouped_by`` key, over every aggregate.
    """

    def __init__(self, name: str, *, aggregate_type: str | None = None, status_field: str = "status",
                 total_of: str | None = None, grouped_by: str | None = None) -> None:
        self.name = name
        self.aggregate_type = aggregate_type
        """Events of another aggregate type are refused; None takes any (ids must then be unique across types)."""
        self.status_field = status_field
        self.total_of = total_of
        self.grouped_by = grouped_by
        self._initial: Callable[[], State] = dict
        self._appliers: dict[str, ApplyFn] = {}
        self._derivers: list[tuple[frozenset[str] | None, DeriveFn]] = []

    def initial(self, fn: Callable[[], State]) -> Callable[[], State]:
        """Register the state of an aggregate before its first event (default: an empty dict)."""
        self._initial = fn
        return fn

    def applies(self, event_type: str) -> Callable[[ApplyFn], ApplyFn]:
        """Register how events of ``event_type`` change the state."""
        def register(fn: ApplyFn) -> ApplyFn:
            if event_type in self._appliers:
                raise ValueError(f"domain {self.name!r} already applies {event_type!r}")
            self._appliers[event_type] = fn
            return fn
        return register

    def derives(self, *event_types: Any) -> Any:
        """Register a hook that derives events from an applied one: ``@domain.derives`` for every event type,
        ``@domain.derives("A", "B")`` for some.  Hooks run in the order they were registered."""
        if len(event_types) == 1 and callable(event_types[0]):
            self._derivers.append((None, event_types[0]))
            return event_types[0]

        def register(fn: DeriveFn) -> DeriveFn:
            self._derivers.append((frozenset(event_types), fn))
            return fn
        return register

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(self._appliers)

    def new_state(self) -> State:
        state = self._initial()
        if not isinstance(state, dict):
            raise TypeError(f"domain {self.name!r}: the initial state must be a dict")
        return state

    def apply(self, state: State, event: Event) -> State:
        """The state after ``event``; ``state`` itself is left as it was (the rule gets a deep copy)."""
        fn = self._appliers.get(event.type)
        if fn is None:
            raise DomainRuleError("unknown event type", "type")
        working = _working_copy(state)
        result = fn(working, MappingProxyType(dict(event.data)), event)
        new = working if result is None else result
        if not isinstance(new, dict):
            raise TypeError(f"domain {self.name!r}: the rule for {event.type!r} must return a dict or None")
        return new

    def derive(self, before: State, after: State, event: Event) -> list[tuple[str, dict[str, Any]]]:
        """The events derived from ``event``, which took ``before`` to ``after``."""
        derived = []
        for types, fn in self._derivers:
            if types is not None and event.type not in types:
                continue
            for item in fn(MappingProxyType(before), MappingProxyType(after), event) or ():
                derived_type, data = item
                if not isinstance(derived_type, str) or not derived_type or not isinstance(data, Mapping):
                    raise TypeError(f"domain {self.name!r}: a derived event is a (type, data map) pair")
                derived.append((derived_type, dict(data)))
        return derived

    def status(self, state: Mapping[str, Any]) -> Any:
        return state.get(self.status_field)

    def view(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The state as projections show it: without the status, which they carry apart."""
        return {key: value for key, value in state.items() if key != self.status_field}


_IMMUTABLE = frozenset({str, int, float, bool, type(None), Decimal})


def _working_copy(state: State) -> State:
    """A copy of ``state`` that a rule may change freely: a plain copy when every value is immutable (as the
    bank's are: a deep copy cost 15 us an event, a quarter of applying it), else a deep copy."""
    if type(state) is dict and all(type(value) in _IMMUTABLE for value in state.values()):
        return dict(state)
    return copy.deepcopy(state)
