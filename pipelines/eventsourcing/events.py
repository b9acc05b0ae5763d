"""Events as microservices publish them to the event store: what a record must hold to be one, checked once.

Every refusal (``EventError``) names the field and says why in fixed words, never quoting a value.

>>> event = parse_event({"aggregate_id": "acct-1", "aggregate_type": "Account", "version": 2, "event_id": "e-2",
...                      "type": "Deposited", "occurred_at": "2026-01-01T00:00:05Z", "data": {"amount": "12.50"}})
>>> event.version, event.occurred_at, event.data
(2, 1767225605000, {'amount': '12.50'})
>>> parse_event({**event.as_dict(), "version": 1.0})
Traceback (most recent call last):
...
pipelines.eventsourcing.events.EventError: field 'version': must be a positive integer
>>> parse_event(b'{"aggregate_id": ""}')
Traceback (most recent call last):
...
pipelines.eventsourcing.events.EventError: field 'aggregate_id': must be a non-empty string
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping  # isinstance() against typing's alias costs more
from dataclasses import dataclass, field
from typing import Any

from pipelines.errors import FieldError
from pipelines.records import loads_as_json
from pipelines.times import epoch_ms

MAX_VERSION = 2**63 - 1
"""The largest version an Avro long (and a DynamoDB number compared exactly) carries."""
_NAMES = ("aggregate_id", "aggregate_type", "event_id", "type")
_SURROGATE = re.compile("[\ud800-\udfff]")


class EventError(FieldError):
    """A record is not a usable event: the field and our reason, never the value."""


@dataclass(frozen=True, slots=True)
class Event:
    """One state change of one aggregate, as its service published it."""

    aggregate_id: str
    aggregate_type: str
    version: int
    """1 for the aggregate's first event, then one more for each: the order its events apply in."""
    event_id: str
    """Unique per event: a retry of the same event carries the same id."""
    type: str
    occurred_at: int
    """Epoch milliseconds."""
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The event as ``parse_event`` reads it (snapshots hold held events so; a dead letter can carry it)."""
        return {"aggregate_id": self.aggregate_id, "aggregate_type": self.aggregate_type, "version": self.version,
                "event_id": self.event_id, "type": self.type, "occurred_at": self.occurred_at,
                "data": dict(self.data)}


def parse_event(payload: Any) -> Event:
    """The event in ``payload``: a map, or the JSON bytes of one.

    Refused (``EventError``): a missing or empty ``aggregate_id``, ``aggregate_type``, ``event_id`` or ``type``;
    a ``version`` that is missing or not a positive integer (a bool or ``1.0`` is none); an ``occurred_at`` that
    is neither epoch milliseconds nor ISO 8601 text; ``data`` that is not a map (or the JSON text of one, as a
    flat envelope payload carries it).
    """
    if isinstance(payload, (bytes, bytearray)):
        try:
            payload = json.loads(payload)
        except (UnicodeDecodeError, ValueError):
            raise EventError("payload", "is neither a map nor the JSON text of an object") from None
    if not isinstance(payload, Mapping):
        raise EventError("payload", "is neither a map nor the JSON text of an object")
    get = payload.get
    aggregate_id, aggregate_type, event_id, event_type = names = (get("aggregate_id"), get("aggregate_type"),
                                                                  get("event_id"), get("type"))
    if not all(type(name) is str and name and name.isascii() for name in names):
        aggregate_id, aggregate_type, event_id, event_type = (_name(payload, key) for key in _NAMES)
    version = payload.get("version")
    if version is None:
        raise EventError("version", "is required")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise EventError("version", "must be a positive integer")
    if version > MAX_VERSION:
        raise EventError("version", "must be at most 2**63 - 1")
    occurred_at = epoch_ms(payload.get("occurred_at"), "occurred_at", EventError)
    return Event(aggregate_id, aggregate_type, version, event_id, event_type, occurred_at, _data(payload.get("data")))


def _name(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    if value is None:
        raise EventError(key, "is required")
    if not isinstance(value, str) or not value:
        raise EventError(key, "must be a non-empty string")
    if not value.isascii() and _SURROGATE.search(value):  # from an unpaired "\\ud800" escape: no writer takes it
        raise EventError(key, "must be Unicode text (it holds a lone surrogate)")
    return value


def _data(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = loads_as_json(value)
        except ValueError:
            raise EventError("data", "must be a map (or its JSON text)") from None
        if type(value) is dict:
            return value  # new, and JSON's keys are text
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise EventError("data", "must be a map (or its JSON text)")
    return dict(value)
