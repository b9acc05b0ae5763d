"""Errors of the video pattern, in one module so no two modules import each other for them."""
from __future__ import annotations

from pipelines.records import RecordValidationError


class VideoError(RuntimeError):
    """Base class: every message says what to do, and never quotes media bytes."""


class PlanUnavailableError(VideoError):
    """A plan was asked for that the probe did not find on this machine."""


class SegmentError(VideoError):
    """A segment cannot be transcoded (corrupt, unsupported codec, incomplete): it is dead-lettered.

    ``error_type`` is a stable code for dead letters and metrics.
    """

    def __init__(self, error_type: str, reason: str) -> None:
        super().__init__(reason)
        self.error_type = error_type
        self.reason = reason


class PartError(RecordValidationError):
    """A record that should be a segment part does not hold one: names the payload field, never its value."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(field_name if field_name in ("type", "payload") else f"payload.{field_name}", reason)
