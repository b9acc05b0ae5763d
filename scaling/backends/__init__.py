"""Where decisions are applied: Managed Flink (kinesisanalyticsv2) and self-managed Flink over REST."""
from scaling.backends.base import (
    ApplyResult,
    BackendError,
    PermissionDenied,
    QuotaExceeded,
    ScalingBackend,
    ScalingConflict,
    ScalingTimeout,
)

__all__ = ["ApplyResult", "BackendError", "PermissionDenied", "QuotaExceeded", "ScalingBackend", "ScalingConflict",
           "ScalingTimeout"]
