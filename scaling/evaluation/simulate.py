"""Trace-driven fluid model of one Flink application under an autoscaling policy.

Physics, per step of ``dt_s``:

- input lambda(t) from the trace; capacity mu(k) = k * r * alpha(k), alpha(k) = 1 / (1 + sigma (k - 1));
- backlog L += (lambda - mu) dt, never negative (processing is min(mu dt, L + lambda dt));
- a rescale stops processing for ``downtime`` and then ramps capacity from
  ``warmup_start_fraction`` to 1 over ``warmup``; both grow with the state size;
- lag is the exact FIFO age of the oldest unprocessed record (what millisBehindLatest
  reports), from the cumulative arrival curve.

Policies see only CloudWatch-like 1-minute datapoints, each published ``metric_delay_s``
after its period ends; Flink's own metrics are missing for periods the job was down.
Time is simulation time (``start_epoch_s + t``); nothing reads a wall clock.
"""
from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scaling.decision import RUNNING, UPDATING, AppState, Policy, ScalingConfigError, clamp
from scaling.signals import BUSY_TIME, CPU, INPUT_RATE, KPUS, LAG_MS, PROCESSED_RATE, MetricHistory
from scaling.evaluation.traces import Trace


@dataclass(frozen=True)
class SimulationConfig:
    dt_s: float = 5.0
    """Integration step."""
    rate_per_kpu: float = 1000.0
    """r: records/s one KPU processes when fully busy."""
    contention: float = 0.003
    """sigma in alpha(k) = 1 / (1 + sigma (k - 1)): how far short of linear the job scales."""
    downtime_base_s: float = 30.0
    """Processing stops for this long on every rescale (snapshot, stop, restart) ..."""
    downtime_per_gb_s: float = 15.0
    """... plus this much per GB of state."""
    warmup_base_s: float = 30.0
    """After the downtime, capacity ramps up over this long ..."""
    warmup_per_gb_s: float = 15.0
    """... plus this much per GB of state (state restore, cold caches)."""
    warmup_start_fraction: float = 0.5
    """Capacity fraction at the start of the warm-up ramp."""
    state_gb: float = 2.0
    """Application state size."""
    metric_period_s: float = 60.0
    """CloudWatch datapoint period."""
    metric_delay_s: float = 60.0
    """A datapoint becomes visible this long after its period ends."""
    decision_interval_s: float = 60.0
    """How often the policy is asked."""
    slo_lag_s: float = 60.0
    """Lag above this counts as time over the SLO."""
    min_kpu: int = 1
    """Lowest KPUs the application can run with."""
    max_kpu: int = 64
    """Highest (the default Managed Flink quota)."""
    initial_kpu: int | None = None
    """KPUs at t=0; None = the smallest count at initial_utilisation for lambda(0)."""
    initial_utilisation: float = 0.7
    """Utilisation the derived initial size targets."""
    cpu_idle_fraction: float = 0.05
    """CPU used by an idle job (containerCPUUtilization = idle + (1 - idle) * busy)."""
    slo_penalty_kpu_hours_per_minute: float = 1.0
    """Cost weight: one minute over the SLO costs this many KPU-hours (the oracle minimises this cost)."""
    start_epoch_s: float = 1_767_225_600.0
    """Simulation clock origin (2026-01-01T00:00:00Z), so cron schedules mean something."""

    def __post_init__(self) -> None:
        if self.dt_s <= 0:
            raise ScalingConfigError("dt_s must be > 0")
        for name in ("metric_period_s", "decision_interval_s"):
            ratio = getattr(self, name) / self.dt_s
            if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
                raise ScalingConfigError(f"{name} must be a whole multiple of dt_s ({self.dt_s})")
        if not 1 <= self.min_kpu <= self.max_kpu:
            raise ScalingConfigError(f"need 1 <= min_kpu ({self.min_kpu}) <= max_kpu ({self.max_kpu})")
        if self.rate_per_kpu <= 0 or self.contention < 0 or not 0 <= self.warmup_start_fraction <= 1:
            raise ScalingConfigError("need rate_per_kpu > 0, contention >= 0, 0 <= warmup_start_fraction <= 1")

    @property
    def downtime_s(self) -> float:
        return self.downtime_base_s + self.downtime_per_gb_s * self.state_gb

    @property
    def warmup_s(self) -> float:
        return self.warmup_base_s + self.warmup_per_gb_s * self.state_gb

    def capacity(self, kpu: int | np.ndarray) -> float | np.ndarray:
        return kpu * self.rate_per_kpu / (1.0 + self.contention * (kpu - 1))

    def rescale_factor(self, since_rescale: float | np.ndarray) -> float | np.ndarray:
        """Capacity fraction ``since_rescale`` seconds after a rescale started (1 once warm)."""
        s = np.asarray(since_rescale, dtype=float)
        ramp = self.warmup_start_fraction + (1 - self.warmup_start_fraction) * (s - self.downtime_s) / max(self.warmup_s, 1e-9)
        out = np.where(s < self.downtime_s, 0.0, np.where(s < self.downtime_s + self.warmup_s, ramp, 1.0))
        return float(out) if out.ndim == 0 else out

    def kpus_for(self, rate: float, utilisation: float = 1.0) -> int:
        for k in range(self.min_kpu, self.max_kpu + 1):
            if self.capacity(k) * utilisation >= rate:
                return k
        return self.max_kpu


@dataclass(frozen=True)
class Timeline:
    """Per metric period: start time (s from trace start), mean lambda, mean capacity, KPUs, max lag."""

    t: np.ndarray
    rate: np.ndarray
    capacity: np.ndarray
    kpu: np.ndarray
    lag_s: np.ndarray
    backlog: np.ndarray
    """Records queued at the end of the period."""


@dataclass(frozen=True)
class SimulationResult:
    policy: str
    trace: str
    kpu_hours: float
    minutes_over_slo: float
    max_lag_s: float
    rescales: int
    scale_ups: int
    downtime_s: float
    cost: float
    """kpu_hours + slo_penalty_kpu_hours_per_minute * minutes_over_slo."""
    records_arrived: float = 0.0
    records_processed: float = 0.0
    final_backlog: float = 0.0
    """Records still queued at the end; arrived == processed + final_backlog."""
    decisions: list[dict[str, Any]] = field(default_factory=list, repr=False)
    """The decisions that started a rescale: time (s from start), current, target, reason, inputs."""
    timeline: Timeline | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "trace": self.trace,
            "kpu_hours": round(self.kpu_hours, 3),
            "minutes_over_slo": round(self.minutes_over_slo, 3),
            "max_lag_s": round(self.max_lag_s, 1),
            "rescales": self.rescales,
            "scale_ups": self.scale_ups,
            "downtime_s": round(self.downtime_s, 1),
            "cost": round(self.cost, 3),
        }


class _FifoAge:
    """Age of the oldest unprocessed record, from the cumulative arrival curve A(t)."""

    def __init__(self) -> None:
        self.times = [0.0]
        self.arrived = [0.0]

    def add(self, t_end: float, arrived_total: float) -> None:
        self.times.append(t_end)
        self.arrived.append(arrived_total)

    def age(self, t_end: float, processed_total: float, backlog: float) -> float:
        if backlog <= 1e-9 * max(1.0, self.arrived[-1]):
            return 0.0
        j = bisect.bisect_right(self.arrived, processed_total)  # first point that has arrived past processed
        j = min(max(j, 1), len(self.arrived) - 1)
        a0, a1 = self.arrived[j - 1], self.arrived[j]
        t0, t1 = self.times[j - 1], self.times[j]
        oldest = t0 if a1 <= a0 else t0 + (t1 - t0) * (processed_total - a0) / (a1 - a0)
        return max(0.0, t_end - oldest)


@dataclass
class _Period:
    arrived: float = 0.0
    processed: float = 0.0
    possible: float = 0.0
    running_s: float = 0.0
    max_age: float = 0.0
    kpu: int = 0


def initial_kpu(trace: Trace, config: SimulationConfig, policy: Policy | None = None) -> int:
    own = getattr(policy, "initial_kpu", None)
    if own is not None:
        return int(own)
    if config.initial_kpu is not None:
        return config.initial_kpu
    return config.kpus_for(float(trace.rate_at(0.0)), config.initial_utilisation)


def simulate(trace: Trace, policy: Policy, config: SimulationConfig = SimulationConfig()) -> SimulationResult:
    cfg = config
    dt, period = cfg.dt_s, cfg.metric_period_s
    steps = int(math.floor(trace.duration / dt + 1e-9))
    per_period = int(round(period / dt))
    per_decision = int(round(cfg.decision_interval_s / dt))
    kpu = clamp(initial_kpu(trace, cfg, policy), cfg.min_kpu, cfg.max_kpu)
    history = MetricHistory()
    pending: deque[tuple[float, float, dict[str, float | None]]] = deque()
    fifo = _FifoAge()
    rescale_at: float | None = None
    done_at: float | None = None
    backlog = arrived_total = processed_total = 0.0
    kpu_seconds = over_slo_s = max_age = downtime = 0.0
    rescales = scale_ups = 0
    decisions: list[dict[str, Any]] = []
    tl: dict[str, list[float]] = {"t": [], "rate": [], "capacity": [], "kpu": [], "lag_s": [], "backlog": []}
    acc = _Period(kpu=kpu)
    for i in range(steps):
        t = i * dt
        now = cfg.start_epoch_s + t
        while pending and pending[0][0] <= t + 1e-9:
            _, start, point = pending.popleft()
            for metric, value in point.items():
                history.record(metric, cfg.start_epoch_s + start, value)
        since = math.inf if rescale_at is None else t - rescale_at
        status = UPDATING if since < cfg.downtime_s else RUNNING
        if rescale_at is not None and status == RUNNING and done_at is None:
            done_at = rescale_at + cfg.downtime_s
        if i % per_decision == 0:
            state = AppState(
                current_kpu=kpu,
                status=status,
                last_rescale_at=None if rescale_at is None else cfg.start_epoch_s + rescale_at,
                last_rescale_done_at=None if done_at is None else cfg.start_epoch_s + done_at,
            )
            decision = policy.decide(state, history, now)
            target = clamp(decision.target, cfg.min_kpu, cfg.max_kpu)
            if status == RUNNING and target != kpu:
                decisions.append({"time": t, **decision.to_dict()})
                scale_ups += target > kpu
                kpu, rescale_at, done_at, since, status = target, t, None, 0.0, UPDATING
                rescales += 1
                downtime += cfg.downtime_s
                acc.kpu = max(acc.kpu, kpu)
        mu = cfg.capacity(kpu) * (1.0 if since == math.inf else cfg.rescale_factor(since))
        lam = float(trace.rate_at(t + dt / 2))
        arrivals = lam * dt
        processed = min(mu * dt, backlog + arrivals)
        backlog = max(0.0, backlog + arrivals - processed)
        arrived_total += arrivals
        processed_total += processed
        fifo.add(t + dt, arrived_total)
        age = fifo.age(t + dt, processed_total, backlog)
        over_slo_s += dt if age > cfg.slo_lag_s else 0.0
        max_age = max(max_age, age)
        kpu_seconds += kpu * dt
        acc.arrived += arrivals
        acc.processed += processed
        if mu > 0:
            acc.possible += mu * dt
            acc.running_s += dt
        acc.max_age = max(acc.max_age, age)
        if (i + 1) % per_period == 0:
            start = (i + 1 - per_period) * dt
            pending.append((start + period + cfg.metric_delay_s, start, _datapoint(acc, period, cfg)))
            for key, value in (("t", start), ("rate", acc.arrived / period), ("capacity", acc.possible / period),
                               ("kpu", acc.kpu), ("lag_s", acc.max_age), ("backlog", backlog)):
                tl[key].append(value)
            acc = _Period(kpu=kpu)
    kpu_hours = kpu_seconds / 3600.0
    minutes = over_slo_s / 60.0
    return SimulationResult(
        policy=getattr(policy, "name", type(policy).__name__),
        trace=trace.name,
        kpu_hours=kpu_hours,
        minutes_over_slo=minutes,
        max_lag_s=max_age,
        rescales=rescales,
        scale_ups=scale_ups,
        downtime_s=downtime,
        cost=kpu_hours + cfg.slo_penalty_kpu_hours_per_minute * minutes,
        records_arrived=arrived_total,
        records_processed=processed_total,
        final_backlog=backlog,
        decisions=decisions,
        timeline=Timeline(**{k: np.asarray(v) for k, v in tl.items()}),
    )


def _datapoint(acc: _Period, period: float, cfg: SimulationConfig) -> dict[str, float | None]:
    """One period's CloudWatch datapoints. Flink's metrics are absent while the job was down."""
    running = acc.running_s > 0 and acc.possible > 0
    busy = min(1.0, acc.processed / acc.possible) if running else None
    return {
        INPUT_RATE: acc.arrived / period,
        PROCESSED_RATE: acc.processed / acc.running_s if running else None,
        BUSY_TIME: 1000.0 * busy if busy is not None else None,
        CPU: 100.0 * (cfg.cpu_idle_fraction + (1 - cfg.cpu_idle_fraction) * busy) if busy is not None else None,
        LAG_MS: 1000.0 * acc.max_age,
        KPUS: float(acc.kpu),
    }
