"""What every policy takes and returns: the application's state and a ScalingDecision.

Sizes are in KPUs (1 KPU = 1 vCPU + 4 GB on Managed Flink). Flink's parallelism is
``KPU x ParallelismPerKPU``; a decision carries the parallelism too where a policy
computed it on parallelism (the step policy), so the backend sets exactly that.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Protocol

from scaling.errors import ScalingConfigError

if TYPE_CHECKING:
    from scaling.signals import MetricHistory

DEFAULT_KPU_QUOTA = 64
"""Managed Flink's default service quota: 64 KPUs per application."""

RUNNING = "RUNNING"
UPDATING = "UPDATING"


@dataclass(frozen=True)
class AppState:
    """What a policy knows about the application besides its metrics."""

    current_kpu: int
    """KPUs the application runs with now."""
    parallelism_per_kpu: int = 1
    """Flink ParallelismPerKPU (1..8 on Managed Flink)."""
    parallelism: int | None = None
    """Current Flink parallelism; None means current_kpu x parallelism_per_kpu."""
    status: str = RUNNING
    """Application status; policies never act while it is not RUNNING (e.g. UPDATING)."""
    last_rescale_at: float | None = None
    """Epoch seconds when the last rescale started; None if never."""
    last_rescale_done_at: float | None = None
    """Epoch seconds when the last rescale finished (status back to RUNNING); None if never."""

    def __post_init__(self) -> None:
        if self.current_kpu < 1:
            raise ScalingConfigError(f"current_kpu must be >= 1, got {self.current_kpu}")
        if self.parallelism_per_kpu < 1:
            raise ScalingConfigError(f"parallelism_per_kpu must be >= 1, got {self.parallelism_per_kpu}")

    @property
    def current_parallelism(self) -> int:
        return self.parallelism if self.parallelism is not None else self.current_kpu * self.parallelism_per_kpu


@dataclass(frozen=True)
class ScalingDecision:
    """One policy evaluation: keep ``current`` or go to ``target`` KPUs, and why."""

    current: int
    target: int
    reason: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    """The numbers the decision was made from, so a decision log can be replayed and audited."""
    parallelism: int | None = None
    """Parallelism to set; None means target x ParallelismPerKPU."""
    current_parallelism: int | None = None
    """Parallelism now, where the policy worked on parallelism (it can change within the same KPUs)."""

    @property
    def changed(self) -> bool:
        if self.target != self.current:
            return True
        return self.parallelism is not None and self.current_parallelism is not None and self.parallelism != self.current_parallelism

    def to_dict(self) -> dict[str, Any]:
        return {
            "current": self.current,
            "target": self.target,
            "parallelism": self.parallelism,
            "current_parallelism": self.current_parallelism,
            "reason": self.reason,
            "inputs": dict(self.inputs),
        }

    @classmethod
    def keep(cls, state: AppState, reason: str, **inputs: Any) -> "ScalingDecision":
        return cls(state.current_kpu, state.current_kpu, reason, inputs)


class Policy(Protocol):
    """A pure function of (state, metric history, now) -> decision."""

    name: str

    def decide(self, state: AppState, history: "MetricHistory", now: float) -> ScalingDecision: ...


def validate_kpu_limits(min_kpu: int, max_kpu: int, kpu_quota: int, parallelism_per_kpu: int = 1) -> None:
    """The checks every policy config shares; raises ScalingConfigError with the fix in the message."""
    if min_kpu < 1:
        raise ScalingConfigError(f"min_kpu must be >= 1, got {min_kpu}")
    if min_kpu > max_kpu:
        raise ScalingConfigError(f"min_kpu ({min_kpu}) is above max_kpu ({max_kpu}): lower min_kpu or raise max_kpu")
    if max_kpu > kpu_quota:
        raise ScalingConfigError(
            f"max_kpu ({max_kpu}) is over the KPU quota ({kpu_quota}): request a quota increase and set "
            "kpu_quota, or lower max_kpu"
        )
    if not 1 <= parallelism_per_kpu <= 8:
        raise ScalingConfigError(f"parallelism_per_kpu must be within 1..8, got {parallelism_per_kpu}")


def kpus_for_parallelism(parallelism: int, parallelism_per_kpu: int) -> int:
    """Managed Flink bills ceil(Parallelism / ParallelismPerKPU) KPUs."""
    return max(1, math.ceil(parallelism / parallelism_per_kpu))


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))
