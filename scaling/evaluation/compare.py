"""Every policy the benchmark compares, built for one trace and simulator configuration."""
from __future__ import annotations

from scaling.evaluation.baselines import (
    AwsSampleConfig,
    AwsSamplePolicy,
    BuiltinConfig,
    BuiltinPolicy,
    DS2Config,
    DS2Policy,
    FlinkOperatorConfig,
    FlinkOperatorPolicy,
    StaticPolicy,
)
from scaling.decision import DEFAULT_KPU_QUOTA, Policy
from scaling.evaluation.oracle import OraclePolicy, plan_oracle
from scaling.policies import ScheduleConfig, SchedulePolicy, ScheduledTargetPolicy, TargetConfig, TargetPolicy
from scaling.evaluation.simulate import SimulationConfig, SimulationResult, simulate
from scaling.evaluation.traces import Trace

POLICIES = ("ours", "aws-sample", "builtin", "flink-operator", "ds2", "static-peak", "oracle")
BASELINES = ("aws-sample", "builtin", "flink-operator", "ds2")
"""The autoscalers 'ours' is measured against (static-peak and oracle are reference points)."""
STATIC_PEAK_UTILISATION = 0.9
"""static-peak is sized so the trace's peak runs at this utilisation."""


def make_policy(name: str, trace: Trace, sim: SimulationConfig, target: TargetConfig | None = None) -> Policy:
    """A fresh policy (baselines keep per-run state). ``target`` overrides ours' TargetConfig."""
    quota = max(DEFAULT_KPU_QUOTA, sim.max_kpu)
    limits = {"min_kpu": sim.min_kpu, "max_kpu": sim.max_kpu}
    if name == "ours":
        cfg = target or TargetConfig(kpu_quota=quota, **limits)
        # no schedule on the synthetic traces: nothing there is known ahead of time
        schedule = SchedulePolicy(ScheduleConfig(min_kpu=sim.min_kpu, max_kpu=sim.max_kpu, kpu_quota=quota))
        return ScheduledTargetPolicy(schedule, TargetPolicy(cfg))
    if name == "aws-sample":
        return AwsSamplePolicy(AwsSampleConfig(**limits))
    if name == "builtin":
        return BuiltinPolicy(BuiltinConfig(**limits))
    if name == "flink-operator":
        return FlinkOperatorPolicy(FlinkOperatorConfig(**limits))
    if name == "ds2":
        return DS2Policy(DS2Config(**limits))
    if name == "static-peak":
        return StaticPolicy(sim.kpus_for(trace.peak, STATIC_PEAK_UTILISATION))
    if name == "oracle":
        return OraclePolicy(plan_oracle(trace, sim), sim.start_epoch_s)
    raise ValueError(f"unknown policy {name!r}: use one of {', '.join(POLICIES)}")


def compare(trace: Trace, names: tuple[str, ...] = POLICIES, sim: SimulationConfig = SimulationConfig(),
            target: TargetConfig | None = None) -> dict[str, SimulationResult]:
    return {name: simulate(trace, make_policy(name, trace, sim, target), sim) for name in names}
