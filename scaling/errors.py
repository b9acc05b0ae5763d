"""The autoscaler's errors, in one module so that no two modules import each other for an exception class.

(The backends' errors live with their protocol in ``scaling.backends.base``.)
"""
from __future__ import annotations


class ScalingConfigError(ValueError):
    """A policy or simulator was configured with values it cannot act on."""


class TraceError(ValueError):
    """A trace file or definition that cannot be simulated; the message names the line."""


class FlinkRestError(RuntimeError):
    """A call failed: ``status`` is the HTTP status (0 when the cluster could not be reached)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status
