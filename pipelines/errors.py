"""The errors every engine may quote: they say which field and why, in our own words, never a value."""
from __future__ import annotations


class FieldError(ValueError):
    """A record is refused because of one field (or the whole record when ``field`` is None).

    Subclasses build ``reason`` from fixed wording only, so a dead letter can carry it; every other
    exception is reported by its type alone (``pipelines.engine.rejection``).
    """

    field: str | None
    reason: str
