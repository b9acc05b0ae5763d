"""Target sizing: pick the right KPU count in one step from the job's true processing rate.

The true processing rate is what the job *could* do per KPU: records/s divided by the
busy fraction (busyTimeMsPerSecond / 1000), so an idle job still tells us its capacity.
The required capacity follows the Flink Kubernetes Operator's formula
(AutoScalerUtils.getTargetProcessingCapacity)::

    required = lag / catch_up + input_rate * restart / catch_up + input_rate / target_utilisation

Scale-up happens at once when the input is above ``scale_up_utilisation`` of the current
capacity, or will be by the time a rescale decided now is done (the metric delay plus
``restart_s``, on a clear upward trend), or the lag would take longer than ``catch_up_s`` to work
off at the current size. It is sized with the full formula on the newest input rate plus the
trend over the rescale and ``trend_lookahead_s`` beyond it, and on the backlog expected when the
rescale starts, so one rescale is enough and a ramp needs few, larger steps. Optionally
(``confirm_jumps``) a single datapoint that jumped is confirmed on the next one first, since it
may hold a change that began mid-period.
Scale-down is lazy: the target is the *maximum* requirement over ``scale_down_window_s``, it
waits while the load is still falling steeply (one step, not two), and it is skipped when the
rescale's cost is more than the KPU-seconds it saves over ``horizon_s``. The cost counts the
restart in KPU-seconds and the SLO minutes the rescale itself causes (downtime and warm-up push
the lag past ``slo_lag_s`` unless the new size has ample room), priced at ``slo_minute_cost_kpu_s``.

Capacity is not linear in KPUs: ``capacity(k) = k * r1 / (1 + sigma * (k - 1))`` (an
Amdahl-style contention sigma; 0 = linear). sigma is fitted from the history when it
holds true rates at two or more sizes, else ``contention`` is used.
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
    validate_kpu_limits,
)
from scaling.signals import BUSY_TIME, INPUT_RATE, KPUS, LAG_MS, PENDING_RECORDS, PROCESSED_RATE, MetricHistory


@dataclass(frozen=True)
class TargetConfig:
    """Defaults chosen by ``python -m benchmarks.autoscaling --tune``: of the grid's configs that stay
    within 1.15x the oracle's KPU-hours on every built-in trace, the one with the fewest minutes over
    the lag SLO in total (see benchmarks/results/autoscaling_tuning.json)."""

    target_utilisation: float = 0.9
    """Fraction of true capacity the job should run at after a rescale."""
    scale_up_utilisation: float = 1.0
    """Scale up when the input rate exceeds this fraction of current capacity."""
    catch_up_s: float = 1800.0
    """Time allowed to work off the lag (and the restart's backlog) after a rescale."""
    restart_s: float = 120.0
    """Expected downtime plus warm-up of one rescale; also how long after a rescale busy-time samples are ignored."""
    rate_window_s: float = 300.0
    """Window over which input and true processing rates are averaged."""
    trend_lookahead_s: float = 1800.0
    """On scale-up, size for the input rate this far past the rescale's end on the current upward trend (0 = off)."""
    trend_window_s: float = 1200.0
    """Window the input-rate trend is fitted over (a clear straight line only, see TREND_MIN_R2)."""
    predictive: bool = True
    """Scale up before the input reaches capacity when the trend says it will by the time a rescale
    decided now would finish (data delay + restart_s), so the rescale happens before lag builds."""
    confirm_jumps: bool = False
    """A single datapoint over capacity that jumped past ``jump_fraction`` may hold a load change that
    started mid-period (its mean understates the new level): wait one period to size on a full one,
    unless the lag is already past ``slo_lag_s``. Fewer rescales on spikes, one minute later on steps
    (off by default: --tune found the step's extra minute costs more than the spike's second rescale)."""
    jump_fraction: float = 0.25
    """A datapoint this much above the one before it counts as a jump."""
    slo_lag_s: float = 60.0
    """The lag SLO: a rescale whose downtime and warm-up push the lag past it costs SLO minutes."""
    downtime_s: float | None = None
    """Expected part of restart_s with no processing at all (the rest is a warm-up at reduced capacity);
    None: half of restart_s."""
    slo_minute_cost_kpu_s: float = 3600.0
    """Price of one minute over the SLO in KPU-seconds, set against what a scale-down saves."""
    scale_down_window_s: float = 600.0
    """Scale down only to the maximum requirement over this window, and not sooner than this after a rescale."""
    horizon_s: float = 1800.0
    """Savings of a scale-down are counted over this horizon."""
    period_s: float = 60.0
    """Metric period."""
    max_staleness_s: float = 300.0
    """If the newest input-rate datapoint is older than this, the data counts as missing."""
    contention: float = 0.0
    """Prior contention sigma used until the history holds true rates at two sizes."""
    fit_window_s: float = 6 * 3600.0
    """How far back true-rate samples are used to fit sigma."""
    min_busy_ms: float = 20.0
    """Busy-time samples below this are too idle to estimate a true rate from."""
    min_kpu: int = 1
    """Never scale below this many KPUs."""
    max_kpu: int = DEFAULT_KPU_QUOTA
    """Never scale above this many KPUs (must be <= kpu_quota)."""
    kpu_quota: int = DEFAULT_KPU_QUOTA
    """The account's KPU quota for one application."""
    parallelism_per_kpu: int = 1
    """Flink ParallelismPerKPU, passed through to the decision."""

    def __post_init__(self) -> None:
        validate_kpu_limits(self.min_kpu, self.max_kpu, self.kpu_quota, self.parallelism_per_kpu)
        if not 0 < self.target_utilisation <= 1 or not self.target_utilisation <= self.scale_up_utilisation <= 1:
            raise ScalingConfigError("need 0 < target_utilisation <= scale_up_utilisation <= 1")
        for name in ("catch_up_s", "rate_window_s", "period_s", "horizon_s", "max_staleness_s"):
            if getattr(self, name) <= 0:
                raise ScalingConfigError(f"{name} must be > 0")
        if self.downtime_s is None:
            object.__setattr__(self, "downtime_s", self.restart_s / 2)
        if not 0 <= self.downtime_s <= self.restart_s or self.slo_lag_s <= 0 or self.trend_window_s <= 0:
            raise ScalingConfigError("need 0 <= downtime_s <= restart_s, slo_lag_s > 0 and trend_window_s > 0")
        if self.restart_s < 0 or self.scale_down_window_s < 0 or self.trend_lookahead_s < 0 or self.contention < 0:
            raise ScalingConfigError("restart_s, scale_down_window_s, trend_lookahead_s and contention must be >= 0")


@dataclass(frozen=True)
class RateModel:
    """True processing capacity as a function of KPUs."""

    per_kpu: float
    """r1: records/s one KPU processes when fully busy."""
    contention: float
    """sigma; capacity(k) = k * r1 / (1 + sigma * (k - 1))."""
    samples: int

    def capacity(self, kpu: int) -> float:
        return kpu * self.per_kpu / (1.0 + self.contention * (kpu - 1))

    def kpus_for(self, required: float, low: int, high: int) -> int:
        """Smallest KPU count in low..high whose capacity covers ``required`` (``high`` if none does)."""
        for k in range(low, high + 1):  # <= 64 steps; a closed form breaks once sigma is fitted
            if self.capacity(k) >= required:
                return k
        return high


def _true_rate_points(history: MetricHistory, start: float, now: float, cfg: TargetConfig) -> list[tuple[float, int, float]]:
    """(time, kpu, true records/s per KPU) for periods with usable busy time, warm-ups excluded."""
    kpu_samples = history.samples(KPUS, start - cfg.restart_s - cfg.period_s, now)
    changes, previous = [], None
    for s in kpu_samples:
        if s.value is not None:
            if previous is not None and s.value != previous:
                changes.append(s.time)
            previous = s.value
    points = []
    for s in history.samples(PROCESSED_RATE, start, now):
        busy = history.value_at(BUSY_TIME, s.time)
        kpu = history.value_at(KPUS, s.time)
        # nothing processed while busy (initialising, stuck) says nothing about the true rate, and would divide by 0
        if s.value is None or s.value <= 0 or busy is None or kpu is None or busy < cfg.min_busy_ms or kpu < 1:
            continue
        # a warm-up period understates the true rate: skip restart_s after each size change
        if any(c - cfg.period_s <= s.time < c + cfg.restart_s for c in changes):
            continue
        points.append((s.time, int(kpu), s.value / (busy / 1000.0) / kpu))
    return points


def rate_model(history: MetricHistory, now: float, cfg: TargetConfig) -> RateModel | None:
    points = _true_rate_points(history, now - cfg.fit_window_s, now, cfg)
    if not points:
        return None
    sigma = cfg.contention
    if len({k for _, k, _ in points}) >= 2:
        # least squares of 1/r_k = (1 + sigma (k - 1)) / r1, a straight line in (k - 1)
        xs = [k - 1.0 for _, k, _ in points]
        ys = [1.0 / r for _, _, r in points]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        if sxx > 0:
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
            intercept = my - slope * mx
            if intercept > 0:
                sigma = min(0.05, max(0.0, slope / intercept))
    recent = [p for p in points if p[0] > now - cfg.rate_window_s] or points[-max(1, int(cfg.rate_window_s // cfg.period_s)) :]
    r1 = sum(r * (1.0 + sigma * (k - 1)) for _, k, r in recent) / len(recent)
    return RateModel(per_kpu=r1, contention=sigma, samples=len(recent))


def lag_records(history: MetricHistory, time: float, input_rate: float, exact: bool) -> float | None:
    """Backlog in records at the period starting at ``time`` (exact) or the newest one up to it."""
    for metric in (PENDING_RECORDS, LAG_MS):
        value = history.value_at(metric, time) if exact else (s.value if (s := history.latest(metric, time)) else None)
        if value is not None:
            return value if metric == PENDING_RECORDS else value / 1000.0 * input_rate
    return None


TREND_MIN_R2 = 0.9
"""A trend counts only if a straight line explains this much of the window's variance (a step or noise does not)."""


def _trend(history: MetricHistory, now: float, window: float) -> float:
    """Least-squares slope of the input rate over the window (records/s per second), 0 unless it is a clear line."""
    pts = [(s.time, s.value) for s in history.samples(INPUT_RATE, now - window, now) if s.value is not None]
    if len(pts) < 4:
        return 0.0
    mt = sum(t for t, _ in pts) / len(pts)
    mv = sum(v for _, v in pts) / len(pts)
    sxx = sum((t - mt) ** 2 for t, _ in pts)
    syy = sum((v - mv) ** 2 for _, v in pts)
    if not sxx or not syy:
        return 0.0
    sxy = sum((t - mt) * (v - mv) for t, v in pts)
    r2 = sxy * sxy / (sxx * syy)
    return sxy / sxx if r2 >= TREND_MIN_R2 else 0.0


WARMUP_START_FRACTION = 0.5
"""Capacity fraction right after the downtime, assumed when pricing a rescale's SLO impact (the
warm-up ramps linearly to full capacity by restart_s)."""


def rescale_slo_seconds(rate: float, capacity: float, lag_s: float, cfg: TargetConfig) -> float:
    """Seconds the lag stays over ``slo_lag_s`` if a rescale to ``capacity`` starts now, the input
    holds at ``rate`` and the lag is ``lag_s``: processing stops for downtime_s, ramps up over the
    rest of restart_s, then drains. With a constant input the FIFO age grows by 1 - mu/rate per second."""
    if rate <= 0:
        return 0.0
    step, age, over, t = 5.0, lag_s, 0.0, 0.0
    warmup = max(cfg.restart_s - cfg.downtime_s, 1e-9)
    while t < 4 * 3600.0:  # a size that never drains is priced as 4 h over
        if t < cfg.downtime_s:
            mu = 0.0
        elif t < cfg.restart_s:
            mu = capacity * (WARMUP_START_FRACTION + (1 - WARMUP_START_FRACTION) * (t - cfg.downtime_s) / warmup)
        else:
            if age <= cfg.slo_lag_s and capacity >= rate:
                break
            mu = capacity
        age = max(0.0, age + step * (1.0 - mu / rate))
        t += step
        over += step if age > cfg.slo_lag_s else 0.0
    return over


class TargetPolicy:
    name = "target"

    def __init__(self, config: TargetConfig = TargetConfig()) -> None:
        self.config = config

    def required(self, input_rate: float, lag: float, with_restart: bool, utilisation: float) -> float:
        cfg = self.config
        restart = input_rate * cfg.restart_s / cfg.catch_up_s if with_restart else 0.0
        return lag / cfg.catch_up_s + restart + input_rate / utilisation

    def decide(self, state: AppState, history: MetricHistory, now: float) -> ScalingDecision:
        cfg = self.config
        if state.status != RUNNING:
            return ScalingDecision.keep(state, f"application is {state.status}: waiting")
        newest = history.latest(INPUT_RATE, now)
        if newest is None or now - newest.time > cfg.max_staleness_s:
            return ScalingDecision.keep(state, "missing data: no recent input rate", input_rate=None)
        model = rate_model(history, now, cfg)
        if model is None:
            return ScalingDecision.keep(state, "missing data: no busy-time samples to estimate the true processing rate")
        recent_inputs = history.values(INPUT_RATE, now - cfg.rate_window_s, now)
        rate_avg = sum(recent_inputs) / len(recent_inputs)
        rate_now = sum(recent_inputs[-2:]) / len(recent_inputs[-2:])
        lag = lag_records(history, now, rate_now, exact=False)
        current = state.current_kpu
        capacity = model.capacity(current)
        slope = _trend(history, now, cfg.trend_window_s)
        # the newest datapoint describes [newest.time, newest.time + period): a rescale decided now
        # completes data_age + restart_s after the middle of it
        data_age = max(0.0, now - newest.time - cfg.period_s / 2)
        inputs = {
            "input_rate": round(rate_now, 3),
            "input_rate_avg": round(rate_avg, 3),
            "lag_records": None if lag is None else round(lag, 3),
            "true_rate_per_kpu": round(model.per_kpu, 3),
            "contention": round(model.contention, 5),
            "capacity": round(capacity, 3),
            "trend_per_s": round(slope, 4),
        }
        low, high = cfg.min_kpu, cfg.max_kpu
        spare = capacity - rate_now
        drain_s = 0.0 if not lag else (math.inf if spare <= 0 else lag / spare)
        inputs["drain_s"] = None if math.isinf(drain_s) else round(drain_s, 1)
        # Up when the input is past scale_up_utilisation, or will be by the time a rescale decided now
        # has finished (predictive, on a clear upward trend only), or the lag cannot be worked off
        # within catch_up_s at the current size (a restart would only add to it otherwise).
        ahead = data_age + cfg.restart_s
        expected = rate_now + (max(0.0, slope) * ahead if cfg.predictive else 0.0)
        inputs["expected_input_rate"] = round(expected, 3)
        if expected > capacity * cfg.scale_up_utilisation or drain_s > cfg.catch_up_s:
            lag_s = 0.0 if not lag or rate_now <= 0 else lag / rate_now
            previous = history.values(INPUT_RATE, now - cfg.rate_window_s, newest.time - cfg.period_s / 2)
            if (cfg.confirm_jumps and previous and previous[-1] <= capacity * cfg.scale_up_utilisation
                    and newest.value > previous[-1] * (1 + cfg.jump_fraction) and lag_s <= cfg.slo_lag_s):
                return ScalingDecision.keep(state, "input jumped: confirming the new level on one more datapoint", **inputs)
            up = max(0.0, slope)
            planned = max(newest.value, rate_now, rate_avg) + up * (ahead + cfg.trend_lookahead_s)
            # backlog by the time the rescale starts: the lag seen, plus what the current size falls
            # short of since that datapoint (the restart's own backlog is the formula's restart term)
            backlog = (lag or 0.0) + max(0.0, rate_now + up * data_age - capacity) * data_age
            required = self.required(planned, backlog, True, cfg.target_utilisation)
            target = clamp(max(model.kpus_for(required, low, high), current + 1), low, high)
            inputs.update(planned_input_rate=round(planned, 3), required_capacity=round(required, 3))
            if target == current:
                return ScalingDecision(current, current, "under capacity but at max_kpu", inputs)
            return ScalingDecision(current, target, f"under capacity: {required:.0f} rec/s needs {target} KPU", inputs)
        if lag is None:
            return ScalingDecision.keep(state, "missing data: no lag, so no scale-down", **inputs)
        if state.last_rescale_at is not None and now - state.last_rescale_at < cfg.scale_down_window_s:
            return ScalingDecision.keep(state, "stabilising after the last rescale", **inputs)
        window = cfg.scale_down_window_s
        candidate, seen = self._lazy_down_target(history, now - window, now, model)
        expected_points = window / cfg.period_s
        if seen < 0.5 * expected_points:
            return ScalingDecision.keep(state, f"insufficient data: {seen} of {expected_points:.0f} datapoints", **inputs)
        candidate = clamp(candidate, low, high)
        inputs.update(lazy_target=candidate)
        if candidate >= current:
            return ScalingDecision.keep(state, "right-sized", **inputs)
        recent, _ = self._lazy_down_target(history, now - window / 2, now, model)
        since = math.inf if state.last_rescale_at is None else now - state.last_rescale_at
        if recent < candidate and (since < 1.5 * window or current - recent >= 2 * (current - candidate)):
            # still falling: wait (up to half a window more) to take one bigger step instead of two; after
            # a fall much steeper than a ramp (half the window asks for twice the step) wait in any case
            return ScalingDecision.keep(state, "load still falling: deferring the scale-down", recent_target=recent, **inputs)
        spare = model.capacity(candidate) - rate_avg
        catch_up = math.inf if spare <= 0 else rate_avg * cfg.restart_s / spare
        lag_s = lag / rate_now if rate_now > 0 else 0.0
        slo_s = rescale_slo_seconds(max(rate_now, rate_avg), model.capacity(candidate), lag_s, cfg)
        cost = candidate * (cfg.restart_s + catch_up) + slo_s / 60.0 * cfg.slo_minute_cost_kpu_s
        savings = (current - candidate) * cfg.horizon_s
        inputs.update(rescale_cost_kpu_s=round(cost, 1), rescale_slo_s=round(slo_s, 1), savings_kpu_s=round(savings, 1))
        if cost > savings:
            return ScalingDecision.keep(state, "scale-down would cost more than it saves", **inputs)
        return ScalingDecision(current, candidate, f"over-provisioned for {cfg.scale_down_window_s:.0f}s", inputs)

    def _lazy_down_target(self, history: MetricHistory, start: float, end: float, model: RateModel) -> tuple[int, int]:
        """Max KPU requirement over [start, end], and how many datapoints it saw."""
        cfg = self.config
        best, seen = cfg.min_kpu, 0
        for s in history.samples(INPUT_RATE, start, end):
            if s.value is None:
                continue
            lag = lag_records(history, s.time, s.value, exact=True)
            if lag is None:
                continue
            seen += 1
            need = self.required(s.value, lag, True, cfg.target_utilisation)
            best = max(best, model.kpus_for(need, cfg.min_kpu, cfg.max_kpu))
        return best, seen
