"""Production scaling policies: pure functions of (AppState, MetricHistory, now) -> ScalingDecision."""
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
