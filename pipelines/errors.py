"""The errors every engine may quote: they say which field and why, in our own words, never a value."""
from __future__ import annotations


class FieldError(ValueError):
    """A record is refused because of one field (or the whole record when ``field`` is None).

    Subclasses build ``reason`` from fixed wording only, so a dead letter can carry it; every other
    exception is reported by its type alone (``pipelines.engine.rejection``).
    """

    field: str | None
    reason: str

    def __init__(self, field_name: str | None, reason: str) -> None:
        self.field = field_name
        self.reason = reason
        super().__init__(self.describe())

    def describe(self) -> str:
        """The message: ``field '<name>': <reason>``, or the reason alone for the whole record."""
        return f"field '{self.field}': {self.reason}" if self.field else self.reason
