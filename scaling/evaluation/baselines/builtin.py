"""Managed Flink's built-in autoscaling, as documented: CPU only.

Scale up (double parallelism) when containerCPUUtilization has been >= 75% for 15
minutes; scale down (halve) when it has been < 10% for 6 hours; never above the
application's max (the KPU quota).
"""
from __future__ import annotations

from dataclasses import dataclass

from scaling.decision import DEFAULT_KPU_QUOTA, RUNNING, AppState, ScalingDecision
from scaling.signals import ALARM, CPU, MetricHistory, evaluate_alarm


@dataclass(frozen=True)
class BuiltinConfig:
    scale_up_cpu: float = 75.0
    """Scale up when CPU is at or above this ..."""
    scale_up_periods: int = 15
    """... for this many 1-minute periods."""
    scale_down_cpu: float = 10.0
    """Scale down when CPU is below this ..."""
    scale_down_periods: int = 360
    """... for this many 1-minute periods (6 hours)."""
    min_kpu: int = 1
    """Lowest KPUs."""
    max_kpu: int = DEFAULT_KPU_QUOTA
    """Highest KPUs."""


class BuiltinPolicy:
    name = "builtin"

    def __init__(self, config: BuiltinConfig = BuiltinConfig()) -> None:
        self.config = config

    def decide(self, state: AppState, history: MetricHistory, now: float) -> ScalingDecision:
        cfg = self.config
        if state.status != RUNNING:
            return ScalingDecision.keep(state, "UPDATING")
        since = state.last_rescale_done_at if state.last_rescale_done_at is not None else -float("inf")
        up, _ = evaluate_alarm(history, CPU, now, threshold=cfg.scale_up_cpu, comparison=">=",
                               evaluation_periods=cfg.scale_up_periods, datapoints_to_alarm=cfg.scale_up_periods)
        # only datapoints after the last rescale count: the rule restarts its clock on every change
        fresh_up = now - since >= cfg.scale_up_periods * 60.0
        if up == ALARM and fresh_up and state.current_kpu < cfg.max_kpu:
            return ScalingDecision(state.current_kpu, min(cfg.max_kpu, state.current_kpu * 2), "CPU >= 75% for 15 min")
        down, _ = evaluate_alarm(history, CPU, now, threshold=cfg.scale_down_cpu, comparison="<",
                                 evaluation_periods=cfg.scale_down_periods, datapoints_to_alarm=cfg.scale_down_periods)
        fresh_down = now - since >= cfg.scale_down_periods * 60.0
        if down == ALARM and fresh_down and state.current_kpu > cfg.min_kpu:
            return ScalingDecision(state.current_kpu, max(cfg.min_kpu, state.current_kpu // 2), "CPU < 10% for 6 h")
        return ScalingDecision.keep(state, "CPU rule not met")
