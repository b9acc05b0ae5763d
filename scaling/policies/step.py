"""Step scaling: the AWS blog's alarm -> factor -> clamp loop, with its rough edges fixed.

Compared with the sample (aws-samples/amazon-managed-service-for-apache-flink-examples,
infrastructure/AutoScaling): factors are floats, scale-out and scale-in have their
own factor, the step works on Flink *parallelism* so ParallelismPerKPU is respected,
every step moves at least one unit, and the max is checked against the KPU quota
when the policy is built rather than when UpdateApplication fails.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from scaling.decision import (
    DEFAULT_KPU_QUOTA,
    RUNNING,
    AppState,
    ScalingConfigError,
    ScalingDecision,
    clamp,
    kpus_for_parallelism,
    validate_kpu_limits,
)
from scaling.signals import ALARM, CPU, MetricHistory, check_metric, evaluate_alarm

MULTIPLY = "multiply"
ADD = "add"


@dataclass(frozen=True)
class StepConfig:
    metric: str = CPU
    """Metric both alarms watch (a name from scaling.signals.KNOWN_METRICS or 'custom:<Name>')."""
    scale_out_threshold: float = 80.0
    """Scale out when the metric is above this for M of N periods."""
    scale_in_threshold: float = 20.0
    """Scale in when the metric is below this for M of N periods."""
    operation: str = MULTIPLY
    """'multiply' (parallelism x factor on out, / factor on in) or 'add' (+ factor / - factor)."""
    scale_out_factor: float = 2.0
    """Factor for scale-out; > 1 for multiply, > 0 for add. Floats allowed (e.g. 1.5)."""
    scale_in_factor: float = 2.0
    """Factor for scale-in; > 1 for multiply (divides), > 0 for add (subtracts)."""
    evaluation_periods: int = 5
    """N: periods the alarms look at."""
    datapoints_to_alarm: int = 5
    """M: breaching datapoints among the N that put an alarm in ALARM."""
    period_s: float = 60.0
    """Length of one metric period."""
    cooldown_s: float = 300.0
    """No new step until this long after the last rescale finished."""
    min_kpu: int = 1
    """Never scale below this many KPUs."""
    max_kpu: int = 8
    """Never scale above this many KPUs (must be <= kpu_quota)."""
    kpu_quota: int = DEFAULT_KPU_QUOTA
    """The account's KPU quota for one application."""
    parallelism_per_kpu: int = 1
    """Flink ParallelismPerKPU; the step is taken on parallelism, KPUs follow."""

    def __post_init__(self) -> None:
        check_metric(self.metric)
        validate_kpu_limits(self.min_kpu, self.max_kpu, self.kpu_quota, self.parallelism_per_kpu)
        if self.operation not in (MULTIPLY, ADD):
            raise ScalingConfigError(f"operation must be 'multiply' or 'add', got {self.operation!r}")
        floor = 1.0 if self.operation == MULTIPLY else 0.0
        for name in ("scale_out_factor", "scale_in_factor"):
            value = getattr(self, name)
            if not value > floor:
                raise ScalingConfigError(f"{name} must be > {floor:g} for operation {self.operation!r}, got {value}")
        if self.scale_in_threshold >= self.scale_out_threshold:
            raise ScalingConfigError(
                f"scale_in_threshold ({self.scale_in_threshold}) must be below scale_out_threshold "
                f"({self.scale_out_threshold}), or the alarms would fight"
            )
        if not 1 <= self.datapoints_to_alarm <= self.evaluation_periods:
            raise ScalingConfigError(
                f"datapoints_to_alarm must be within 1..evaluation_periods ({self.evaluation_periods}), "
                f"got {self.datapoints_to_alarm}"
            )
        if self.period_s <= 0 or self.cooldown_s < 0:
            raise ScalingConfigError("period_s must be > 0 and cooldown_s >= 0")


class StepPolicy:
    name = "step"

    def __init__(self, config: StepConfig = StepConfig()) -> None:
        self.config = config

    def decide(self, state: AppState, history: MetricHistory, now: float) -> ScalingDecision:
        cfg = self.config
        if state.status != RUNNING:
            return ScalingDecision.keep(state, f"application is {state.status}: waiting", status=state.status)
        if state.last_rescale_done_at is not None and now - state.last_rescale_done_at < cfg.cooldown_s:
            return ScalingDecision.keep(state, "cooling down", since_rescale_s=now - state.last_rescale_done_at)
        alarm = dict(
            evaluation_periods=cfg.evaluation_periods, datapoints_to_alarm=cfg.datapoints_to_alarm, period_s=cfg.period_s
        )
        out_state, window = evaluate_alarm(
            history, cfg.metric, now, threshold=cfg.scale_out_threshold, comparison=">", **alarm
        )
        in_state, _ = evaluate_alarm(history, cfg.metric, now, threshold=cfg.scale_in_threshold, comparison="<", **alarm)
        inputs = {"metric": cfg.metric, "datapoints": window, "scale_out_alarm": out_state, "scale_in_alarm": in_state}
        par = state.current_parallelism
        ppk = state.parallelism_per_kpu
        if out_state == ALARM:
            stepped = par * cfg.scale_out_factor if cfg.operation == MULTIPLY else par + cfg.scale_out_factor
            new_par = max(par + 1, math.ceil(stepped - 1e-9))  # a step always moves, 1.01 x 3 is 4 not 3
            direction = "out"
        elif in_state == ALARM:
            stepped = par / cfg.scale_in_factor if cfg.operation == MULTIPLY else par - cfg.scale_in_factor
            new_par = max(1, min(par - 1, math.floor(stepped + 1e-9)))
            direction = "in"
        else:
            return ScalingDecision.keep(state, "no alarm in ALARM", **inputs)
        new_par = clamp(new_par, cfg.min_kpu * ppk, cfg.max_kpu * ppk)
        target = clamp(kpus_for_parallelism(new_par, ppk), cfg.min_kpu, cfg.max_kpu)
        if target == state.current_kpu and new_par == par:
            return ScalingDecision.keep(state, f"scale-{direction} alarm but already at the KPU limit", **inputs)
        reason = f"scale-{direction} alarm: parallelism {par} -> {new_par} ({cfg.operation} {cfg.scale_out_factor if direction == 'out' else cfg.scale_in_factor:g})"
        return ScalingDecision(state.current_kpu, target, reason, inputs, parallelism=new_par, current_parallelism=par)
