"""Times as records carry them, read one way by every pattern: epoch milliseconds, or ISO 8601 text.

>>> epoch_ms("2026-01-01T00:00:05Z", "occurred_at", ValueError)
1767225605000
>>> epoch_ms("yesterday", "occurred_at", lambda field, reason: ValueError(f"field '{field}': {reason}"))
Traceback (most recent call last):
...
ValueError: field 'occurred_at': must be epoch milliseconds or ISO 8601 text
>>> iso_utc(1767225605250)
'2026-01-01T00:00:05.250Z'
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

MAX_EPOCH_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z, the last time ISO 8601 writes with four digits."""
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def epoch_ms(value: Any, field: str, error: Callable[[str, str], Exception]) -> int:
    """Epoch milliseconds from epoch milliseconds (an integer) or ISO 8601 text (UTC when no offset).

    A value that is neither, or lies outside 1970 to 9999, raises ``error(field, reason)``: each pattern's own
    ``FieldError`` subclass, the reason in fixed words that never quote the value.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        millis = value
    elif isinstance(value, float) and value.is_integer():
        millis = int(value)
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise error(field, "must be epoch milliseconds or ISO 8601 text") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        millis = (parsed - EPOCH) // dt.timedelta(milliseconds=1)
    elif value is None:
        raise error(field, "is required")
    else:
        raise error(field, "must be epoch milliseconds or ISO 8601 text")
    if not 0 <= millis <= MAX_EPOCH_MS:
        raise error(field, "must lie between 1970 and the year 9999")
    return millis


def iso_utc(millis: int) -> str:
    """``2026-01-01T00:00:05Z`` (milliseconds shown only when there are some)."""
    moment = EPOCH + dt.timedelta(milliseconds=millis)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{millis % 1000:03d}Z" if millis % 1000 else f"{text}Z"
