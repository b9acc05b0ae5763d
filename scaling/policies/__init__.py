"""Production scaling policies: pure functions of (AppState, MetricHistory, now) -> ScalingDecision.

No clock and no AWS inside: a test (or a replay of the decision log) hands a policy the
metrics it would have seen and the time, and gets the decision with its reason.

>>> from scaling.decision import AppState
>>> from scaling.signals import CPU, MetricHistory
>>> history = MetricHistory()
>>> for minute in range(5):
...     history.record(CPU, 60.0 * minute, 95.0)       # five hot minutes
>>> decision = StepPolicy(StepConfig(max_kpu=16)).decide(AppState(current_kpu=2), history, 330.0)
>>> decision.target, decision.reason
(4, 'scale-out alarm: parallelism 2 -> 4 (multiply 2)')
"""
from scaling.policies.compose import ScheduledTargetPolicy
from scaling.policies.schedule import ScheduleConfig, SchedulePolicy, ScheduleWindow
from scaling.policies.step import StepConfig, StepPolicy
from scaling.policies.target import TargetConfig, TargetPolicy

__all__ = [
    "ScheduleConfig",
    "SchedulePolicy",
    "ScheduleWindow",
    "ScheduledTargetPolicy",
    "StepConfig",
    "StepPolicy",
    "TargetConfig",
    "TargetPolicy",
]
