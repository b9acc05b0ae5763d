"""What every backend does and the errors it raises.

A backend reads the application's state and applies a ScalingDecision; the controller
calls ``describe`` -> policy -> ``apply`` -> ``wait_until_running``. Errors come in the
three kinds of STYLE item 5: ``ScalingConflict`` (someone else changed the application:
re-plan), ``ScalingTimeout`` (not ready in time: the next cycle looks again), and the fatal
``PermissionDenied``/``QuotaExceeded``/``BackendError`` that a user must fix.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from scaling.decision import AppState, ScalingDecision


class BackendError(RuntimeError):
    """The backend could not apply a decision; the message says what to do."""


class PermissionDenied(BackendError):
    """The credentials lack an IAM action; the message names it and the resource."""

    def __init__(self, action: str, resource: str, detail: str = "") -> None:
        self.action = action
        self.resource = resource
        suffix = f" ({detail})" if detail else ""
        super().__init__(f"missing permission {action} on {resource}: allow it in the controller's IAM policy "
                         f"(see scaling/deploy/iam_policy.json){suffix}")


class QuotaExceeded(BackendError):
    """The decision needs more KPUs than the account's quota allows."""


class ScalingConflict(BackendError):
    """The application changed under us (version or state); the decision was not applied."""


class ScalingTimeout(BackendError):
    """The application did not reach RUNNING in time."""


@dataclass(frozen=True)
class ApplyResult:
    """What ``apply`` did."""

    started: bool
    """True when a rescale was started (False: nothing to do)."""
    parallelism: int
    """Parallelism requested."""
    method: str
    """How: 'update-application', 'in-place', 'savepoint-resubmit' or 'none'."""
    detail: str = ""


class ScalingBackend(Protocol):
    name: str

    async def describe(self) -> AppState:
        """The application's current size, status and last update time."""

    async def apply(self, decision: ScalingDecision, state: AppState) -> ApplyResult:
        """Start the rescale ``decision`` asks for (returns once it is accepted, not once done)."""

    async def wait_until_running(self, timeout_s: float | None = None) -> AppState:
        """Poll until the application is RUNNING at its new size; ScalingTimeout otherwise."""


def target_parallelism(decision: ScalingDecision, parallelism_per_kpu: int) -> int:
    """The Flink parallelism a decision asks for."""
    return decision.parallelism if decision.parallelism is not None else decision.target * parallelism_per_kpu


def check_quota(decision: ScalingDecision, kpu_quota: int, parallelism_per_kpu: int) -> None:
    """Refuse, before any call, a decision the account's KPU quota cannot hold."""
    kpus = -(-target_parallelism(decision, parallelism_per_kpu) // parallelism_per_kpu)
    if max(kpus, decision.target) > kpu_quota:
        raise QuotaExceeded(
            f"the decision needs {max(kpus, decision.target)} KPUs but the quota is {kpu_quota}: request a quota "
            "increase (Service Quotas, 'Kinesis Processing Units per application') and raise kpu_quota, or lower max_kpu")
