"""Errors of the PII masking core.

Every message names *where* (a policy key path, a payload field, a key reference)
and *why*, never a record value or key material: these strings end up in logs
and dead-letter records.
"""
from __future__ import annotations

from pipelines.errors import FieldError


class PolicyError(ValueError):
    """A masking policy is invalid.  ``path`` is the dotted key path, e.g. ``fields.ssn.action``."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason)


class MissingKeyError(PolicyError):
    """A key that a ``hash``/``tokenize``/``encrypt`` action needs cannot be loaded."""


class MaskingError(FieldError):
    """A payload cannot be masked (e.g. a value is not valid UTF-8).  Names the field, never the value."""

    def describe(self) -> str:
        return f"field '{self.field}': {self.reason}" if self.field is not None else self.reason
