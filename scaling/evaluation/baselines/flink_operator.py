"""The Flink Kubernetes Operator's autoscaler, re-implemented for one vertex from its
documented algorithm and defaults (apache/flink-kubernetes-operator, flink-autoscaler:
AutoScalerOptions, ScalingMetricEvaluator, AutoScalerUtils.getTargetProcessingCapacity,
JobVertexScaler.computeScaleTargetParallelism / applyScaleDownInterval).

- Metrics are collected only after the job has run ``stabilization`` past a restart,
  and a decision needs a full ``metrics.window``.
- True processing rate = records/s / busy fraction, averaged over the window.
- Scale only when the true rate is outside
  [target(util.max, no restart), target(util.min, with restart)], util = target +/- boundary;
  while processing backlog (lag > backlog-processing.lag-threshold) the band is [1.0, 0.0].
- New parallelism = ceil(p * target(util.target, with restart) / true rate), scale-down
  factor capped by scale-down.max-factor.
- Scale-down is delayed by scale-down.interval and uses the max recommendation in it.

It keeps the operator's state (the delayed scale-down requests) in the object, as the
operator keeps it in its state store; the simulator builds a fresh one per run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from scaling.decision import DEFAULT_KPU_QUOTA, RUNNING, AppState, ScalingDecision, clamp
from scaling.signals import BUSY_TIME, INPUT_RATE, LAG_MS, PROCESSED_RATE, MetricHistory


@dataclass(frozen=True)
class FlinkOperatorConfig:
    utilization_target: float = 0.7
    """job.autoscaler.utilization.target"""
    utilization_boundary: float = 0.3
    """job.autoscaler.target.utilization.boundary (util.max = 1.0, util.min = 0.4)"""
    metrics_window_s: float = 900.0
    """job.autoscaler.metrics.window (15 min)"""
    stabilization_s: float = 300.0
    """job.autoscaler.stabilization.interval (5 min)"""
    scale_down_interval_s: float = 3600.0
    """job.autoscaler.scale-down.interval (1 h)"""
    max_scale_down_factor: float = 0.6
    """job.autoscaler.scale-down.max-factor"""
    max_scale_up_factor: float = 100000.0
    """job.autoscaler.scale-up.max-factor"""
    catch_up_s: float = 1800.0
    """job.autoscaler.catch-up.duration (30 min)"""
    restart_s: float = 300.0
    """job.autoscaler.restart.time (5 min)"""
    backlog_lag_threshold_s: float = 300.0
    """job.autoscaler.backlog-processing.lag-threshold (5 min)"""
    min_kpu: int = 1
    """job.autoscaler.vertex.min-parallelism"""
    max_kpu: int = DEFAULT_KPU_QUOTA
    """job.autoscaler.vertex.max-parallelism (200 in the operator; the KPU quota here)"""


class FlinkOperatorPolicy:
    name = "flink-operator"

    def __init__(self, config: FlinkOperatorConfig = FlinkOperatorConfig()) -> None:
        self.config = config
        self._first_down_trigger: float | None = None
        self._down_recommendations: list[tuple[float, int]] = []

    def _target_capacity(self, rate: float, catch_up_rate: float, utilisation: float, with_restart: bool) -> float:
        cfg = self.config
        if utilisation <= 0:
            return math.inf
        restart = rate * cfg.restart_s / cfg.catch_up_s if with_restart else 0.0
        return round(catch_up_rate + restart + rate / min(1.0, utilisation))

    def decide(self, state: AppState, history: MetricHistory, now: float) -> ScalingDecision:
        cfg = self.config
        if state.status != RUNNING:
            return ScalingDecision.keep(state, "job not running")
        collect_from = -math.inf if state.last_rescale_done_at is None else state.last_rescale_done_at + cfg.stabilization_s
        start = now - cfg.metrics_window_s
        if start < collect_from:
            return ScalingDecision.keep(state, "metric window not full yet")
        rates = history.values(INPUT_RATE, start, now)
        true_rates = []
        for s in history.samples(PROCESSED_RATE, start, now):
            busy = history.value_at(BUSY_TIME, s.time)
            if s.value is not None and busy:
                true_rates.append(s.value / (busy / 1000.0))
        lag_sample = history.latest(LAG_MS, now)
        if not rates or not true_rates or lag_sample is None:
            return ScalingDecision.keep(state, "metrics missing")
        rate = sum(rates) / len(rates)
        true_rate = sum(true_rates) / len(true_rates)
        lag = lag_sample.value / 1000.0 * rates[-1]
        catch_up_rate = lag / cfg.catch_up_s
        backlog = rate > 0 and lag / rate > cfg.backlog_lag_threshold_s
        upper, lower = (1.0, 0.0) if backlog else (cfg.utilization_target + cfg.utilization_boundary,
                                                     cfg.utilization_target - cfg.utilization_boundary)
        up_threshold = self._target_capacity(rate, catch_up_rate, upper, with_restart=False)
        down_threshold = self._target_capacity(rate, catch_up_rate, lower, with_restart=True)
        outside = true_rate < up_threshold or true_rate > down_threshold
        target = self._target_capacity(rate, catch_up_rate, cfg.utilization_target, with_restart=True)
        factor = min(max(target / true_rate, 1 - cfg.max_scale_down_factor), 1 + cfg.max_scale_up_factor)
        p = state.current_kpu
        new_p = clamp(math.ceil(factor * p - 1e-9), min(p, cfg.min_kpu), max(p, cfg.max_kpu))
        inputs = {"input_rate": rate, "true_rate": true_rate, "lag_records": lag, "target_capacity": target,
                  "scale_up_threshold": up_threshold, "scale_down_threshold": down_threshold}
        if new_p >= p:
            self._first_down_trigger = None
            self._down_recommendations = []
            if new_p == p or not outside:
                return ScalingDecision(p, p, "no change" if new_p == p else "within utilization bounds", inputs)
            return ScalingDecision(p, new_p, "scale up", inputs)
        if self._first_down_trigger is None:
            self._first_down_trigger = now
        self._down_recommendations.append((now, new_p))
        window_start = now - cfg.scale_down_interval_s
        self._down_recommendations = [(t, q) for t, q in self._down_recommendations if t >= window_start]
        if window_start < self._first_down_trigger:
            return ScalingDecision(p, p, "scale down delayed by scale-down.interval", inputs)
        if not outside:
            return ScalingDecision(p, p, "within utilization bounds", inputs)
        best = max(q for _, q in self._down_recommendations)
        self._first_down_trigger = None
        self._down_recommendations = []
        return ScalingDecision(p, best, "delayed scale down", inputs)
