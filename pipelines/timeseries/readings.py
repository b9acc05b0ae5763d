"""Telemetry readings: what a record must hold to be one, checked once, with reasons that never quote a value.

>>> reading = parse_reading({"device_id": "d-1", "metric": "temperature", "value": 21.5,
...                          "event_time": "2026-01-01T00:00:05Z"}, now_ms=1_800_000_000_000)
>>> reading.series, reading.event_time, reading.value
('d-1/temperature', 1767225605000, 21.5)
>>> parse_reading({"device_id": "d-1", "metric": "temperature", "value": "hot", "event_time": 0}, now_ms=0)
Traceback (most recent call last):
...
pipelines.timeseries.readings.ReadingError: field 'value': must be a number
>>> parse_reading({"device_id": "d-1", "metric": "t", "value": 1, "event_time": "9999-01-01T00:00:00Z"},
...               now_ms=1_800_000_000_000)
Traceback (most recent call last):
...
pipelines.timeseries.readings.ReadingError: field 'event_time': is more than 86400 s ahead of the clock
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from pipelines.errors import FieldError
from pipelines.times import epoch_ms



class ReadingError(FieldError):
    """A record is not a usable reading: the field and our reason, never the value."""


@dataclass(frozen=True, slots=True)
class Reading:
    device_id: str
    metric: str
    value: float
    event_time: int
    """Epoch milliseconds."""
    attributes: Mapping[str, Any]

    @property
    def series(self) -> str:
        """``device_id/metric``: how every output names a series."""
        return f"{self.device_id}/{self.metric}"


def parse_reading(payload: Any, now_ms: int, max_future_ms: int = 86_400_000,
                  valid_ranges: Mapping[str, tuple[float, float]] | None = None) -> Reading:
    """The reading in ``payload``: a map, or the JSON bytes of one (an envelope carries nested attributes so).

    Refused (``ReadingError``): a missing or empty id or metric, a value that is null, not a number, NaN,
    infinite or outside ``valid_ranges`` for its metric, an event time that is neither epoch milliseconds nor
    ISO 8601, or further than ``max_future_ms`` ahead of ``now_ms``.
    """
    if isinstance(payload, (bytes, bytearray)):
        try:
            payload = json.loads(payload)
        except (UnicodeDecodeError, ValueError):
            raise ReadingError("payload", "is neither a map nor the JSON text of an object") from None
    if not isinstance(payload, Mapping):
        raise ReadingError("payload", "is neither a map nor the JSON text of an object")
    device_id = _name(payload, "device_id")
    metric = _name(payload, "metric")
    value = payload.get("value")
    if value is None:
        raise ReadingError("value", "is required (null or missing)")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ReadingError("value", "must be a number")
    value = float(value)
    if not math.isfinite(value):
        raise ReadingError("value", "must be finite (not NaN or infinite)")
    bounds = (valid_ranges or {}).get(metric)
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        raise ReadingError("value", f"is outside the valid range [{bounds[0]:g}, {bounds[1]:g}] of its metric")
    event_time = event_time_ms(payload.get("event_time"))
    if event_time - now_ms > max_future_ms:
        raise ReadingError("event_time", f"is more than {max_future_ms / 1000:g} s ahead of the clock")
    attributes = payload.get("attributes")
    if attributes is None:
        attributes = {}
    elif isinstance(attributes, str):  # a flat envelope payload may carry them as JSON text
        try:
            attributes = json.loads(attributes)
        except ValueError:
            raise ReadingError("attributes", "must be a map (or its JSON text)") from None
    if not isinstance(attributes, Mapping):
        raise ReadingError("attributes", "must be a map (or its JSON text)")
    return Reading(device_id, metric, value, event_time, attributes)


def _name(payload: Mapping[str, Any], key: str) -> str:
    value = payload.get(key)
    if value is None:
        raise ReadingError(key, "is required")
    if not isinstance(value, str) or not value:
        raise ReadingError(key, "must be a non-empty string")
    if not value.isascii() and _SURROGATE.search(value):  # from an unpaired "\\ud800" escape: no writer takes it
        raise ReadingError(key, "must be Unicode text (it holds a lone surrogate)")
    if "/" in value and key == "device_id":  # the series name joins them with "/"
        raise ReadingError(key, "must not contain '/'")
    return value


def event_time_ms(value: Any) -> int:
    """Epoch milliseconds from epoch milliseconds (an integer) or ISO 8601 text (UTC when no offset)."""
    return epoch_ms(value, "event_time", ReadingError)


_SURROGATE = re.compile("[\ud800-\udfff]")
