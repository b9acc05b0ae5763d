"""The AWS sample autoscaler, as shipped: alarm -> EventBridge -> Step Functions -> Lambda.

Re-implemented from aws-samples/amazon-managed-service-for-apache-flink-examples,
infrastructure/AutoScaling (README defaults and resources/scaling/scaling.py): two
CloudWatch alarms (M of N datapoints) on one metric, a Lambda that multiplies/divides
or adds/subtracts the *KPU count* by an integer factor (``int(os.environ[...])``, and
``int(kpu / factor)`` on scale-in), clamps to min/max KPU, a state machine that polls
while the application is UPDATING and waits a cooling-down period before looking at
the alarm again, looping while the alarm stays in ALARM.
"""
from __future__ import annotations

from dataclasses import dataclass

from scaling.decision import RUNNING, AppState, ScalingConfigError, ScalingDecision
from scaling.signals import ALARM, CPU, MetricHistory, check_metric, evaluate_alarm


@dataclass(frozen=True)
class AwsSampleConfig:
    metric: str = CPU
    """Alarm metric (the sample's generator takes any; CPU is its documented example)."""
    scale_out_threshold: float = 80.0
    """ScaleOutThreshold default."""
    scale_in_threshold: float = 20.0
    """ScaleInThreshold default."""
    operation: str = "Multiply/Divide"
    """ScaleOperation: 'Multiply/Divide' or 'Add/Subtract'."""
    scale_out_factor: int = 2
    """ScaleOutFactor default (integer only in the sample)."""
    scale_in_factor: int = 2
    """ScaleInFactor default (integer only in the sample)."""
    evaluation_periods: int = 5
    """ScalingEvaluationPeriod default."""
    datapoints_to_alarm: int = 5
    """DataPointsToTriggerAlarm default."""
    period_s: float = 60.0
    """MetricPeriod default."""
    cooldown_s: float = 300.0
    """ScalingCoolingDownPeriod default."""
    update_poll_s: float = 60.0
    """UpdateApplicationWaitingTime: the state machine notices RUNNING up to this late."""
    min_kpu: int = 1
    """MinKPU default."""
    max_kpu: int = 10
    """MaxKPU default (the benchmark raises it to the simulator's max)."""

    def __post_init__(self) -> None:
        check_metric(self.metric)
        if not (isinstance(self.scale_out_factor, int) and isinstance(self.scale_in_factor, int)):
            raise ScalingConfigError("the AWS sample takes integer factors only")
        if self.operation not in ("Multiply/Divide", "Add/Subtract"):
            raise ScalingConfigError(f"unknown ScaleOperation {self.operation!r}")


class AwsSamplePolicy:
    name = "aws-sample"

    def __init__(self, config: AwsSampleConfig = AwsSampleConfig()) -> None:
        self.config = config

    def decide(self, state: AppState, history: MetricHistory, now: float) -> ScalingDecision:
        cfg = self.config
        if state.status != RUNNING:
            return ScalingDecision.keep(state, "UPDATING: state machine waits")
        if state.last_rescale_done_at is not None:
            # the Wait state polls every update_poll_s, then cools down
            noticed = state.last_rescale_done_at + cfg.update_poll_s
            if now < noticed + cfg.cooldown_s:
                return ScalingDecision.keep(state, "cooling down")
        alarm = dict(evaluation_periods=cfg.evaluation_periods, datapoints_to_alarm=cfg.datapoints_to_alarm, period_s=cfg.period_s)
        out_state, _ = evaluate_alarm(history, cfg.metric, now, threshold=cfg.scale_out_threshold, comparison=">", **alarm)
        in_state, _ = evaluate_alarm(history, cfg.metric, now, threshold=cfg.scale_in_threshold, comparison="<", **alarm)
        kpu = state.current_kpu
        multiply = cfg.operation == "Multiply/Divide"
        if out_state == ALARM and kpu < cfg.max_kpu:
            desired = kpu * cfg.scale_out_factor if multiply else kpu + cfg.scale_out_factor
            return ScalingDecision(kpu, min(desired, cfg.max_kpu), "ScaleOut alarm")
        if in_state == ALARM and kpu > cfg.min_kpu:
            desired = int(kpu / cfg.scale_in_factor) if multiply else kpu - cfg.scale_in_factor
            return ScalingDecision(kpu, max(desired, cfg.min_kpu), "ScaleIn alarm")
        return ScalingDecision.keep(state, "no alarm")
