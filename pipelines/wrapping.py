"""Bare JSON objects at the edges: each one wrapped in an envelope, so files of plain events can be published.

>>> config = WrapConfig(type="click", source="file:clicks.jsonl", key_field="user", time_field="at")
>>> record = wrap({"user": "u-7", "at": "2026-01-01T00:00:00Z", "page": "/home"}, config, now_ms=0)
>>> (record.type, record.partition_key, record.event_time, record.payload)
('click', 'u-7', 1767225600000, {'user': 'u-7', 'at': '2026-01-01T00:00:00Z', 'page': '/home'})
>>> wrap({"user": "u-7", "at": 5, "tags": ["a", "b"]}, config, now_ms=0).payload
b'{"user":"u-7","at":5,"tags":["a","b"]}'
>>> is_envelope({"id": "r1", "type": "t", "source": "s", "event_time": 1, "partition_key": "k", "payload": {}})
True
>>> wrap({"page": "/home"}, config, now_ms=0)
Traceback (most recent call last):
...
pipelines.records.RecordValidationError: field 'user': is required by --key-field
"""
from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from pipelines.records import ENVELOPE_SCHEMA, Record, RecordValidationError, validate

ENVELOPE_FIELDS = frozenset(f["name"] for f in ENVELOPE_SCHEMA["fields"])
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class WrapConfig:
    type: str = "event"
    """The envelope's ``type`` for every wrapped object."""
    source: str = "shardline.produce"
    """The envelope's ``source``."""
    key_field: str | None = None
    """The field whose value is the partition key (one per device or user keeps their order); None: random."""
    time_field: str | None = None
    """The field holding the event time (epoch milliseconds or ISO 8601); None: when it is wrapped."""


def is_envelope(data: Any) -> bool:
    """An object shaped like an envelope (only envelope fields, a payload among them), not a bare event."""
    return isinstance(data, dict) and "payload" in data and set(data) <= ENVELOPE_FIELDS


def wrap(data: dict, config: WrapConfig, now_ms: int, line: int | None = None) -> Record:
    """The envelope around one bare object: a map payload if its values are flat, else its JSON as bytes."""
    key = str(uuid.uuid4())
    if config.key_field is not None:
        value = data.get(config.key_field)
        if value is None or not isinstance(value, _SCALARS) or value == "":
            raise RecordValidationError(config.key_field, "is required by --key-field", line)
        key = str(value)
    event_time = now_ms if config.time_field is None else _event_time(data.get(config.time_field), config, line)
    flat = all(isinstance(value, _SCALARS) for value in data.values()) and all(
        -2**63 <= value < 2**63 for value in data.values() if isinstance(value, int))
    payload = dict(data) if flat else json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return validate({"id": str(uuid.uuid4()), "type": config.type, "source": config.source, "event_time": event_time,
                     "partition_key": key, "payload": payload}, line)


def _event_time(value: Any, config: WrapConfig, line: int | None) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.timezone.utc)
            return int(parsed.timestamp() * 1000)
    raise RecordValidationError(str(config.time_field), "must hold epoch milliseconds or an ISO 8601 time "
                                "(--time-field)", line)
