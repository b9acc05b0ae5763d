"""Composition: the schedule's floor first, then the reactive target policy above it."""
from __future__ import annotations

from scaling.decision import RUNNING, AppState, ScalingConfigError, ScalingDecision, clamp
from scaling.policies.schedule import SchedulePolicy
from scaling.policies.target import TargetPolicy
from scaling.signals import MetricHistory


class ScheduledTargetPolicy:
    """``max(schedule floor, target decision)``, clamped to the target policy's max_kpu."""

    name = "ours"

    def __init__(self, schedule: SchedulePolicy, target: TargetPolicy) -> None:
        for window in schedule.config.windows:
            # a floor above the reactive side's max would be cut silently: refuse it up front
            if window.min_kpu > target.config.max_kpu:
                raise ScalingConfigError(
                    f"schedule floor {window.min_kpu} is above the target policy's max_kpu {target.config.max_kpu}"
                )
        self.schedule = schedule
        self.target = target

    def decide(self, state: AppState, history: MetricHistory, now: float) -> ScalingDecision:
        reactive = self.target.decide(state, history, now)
        if state.status != RUNNING:
            return reactive
        floor = self.schedule.floor_at(now)
        target = clamp(max(reactive.target, floor), self.target.config.min_kpu, self.target.config.max_kpu)
        inputs = {**reactive.inputs, "schedule_floor": floor}
        if target == reactive.target:
            return ScalingDecision(reactive.current, target, reactive.reason, inputs)
        return ScalingDecision(reactive.current, target, f"schedule floor {floor} KPU ({reactive.reason})", inputs)
