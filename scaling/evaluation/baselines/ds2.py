"""DS2 (Kalavri et al., OSDI 2018) for one operator: optimal parallelism =
ceil(target rate / true processing rate per instance), with the controller's
warm-up (ignore the first intervals after a rescale) and activation (act only when
the last N proposals agree on the direction; take their maximum). No utilisation
headroom and no backlog term: DS2 sizes for the observed source rate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from scaling.decision import DEFAULT_KPU_QUOTA, RUNNING, AppState, ScalingDecision, clamp
from scaling.signals import BUSY_TIME, INPUT_RATE, PROCESSED_RATE, MetricHistory


@dataclass(frozen=True)
class DS2Config:
    warmup_intervals: int = 2
    """Policy intervals ignored after a rescale."""
    activation_intervals: int = 3
    """Consecutive proposals that must agree before acting."""
    interval_s: float = 60.0
    """Policy interval (one metric period)."""
    min_kpu: int = 1
    """Lowest KPUs."""
    max_kpu: int = DEFAULT_KPU_QUOTA
    """Highest KPUs."""


class DS2Policy:
    name = "ds2"

    def __init__(self, config: DS2Config = DS2Config()) -> None:
        self.config = config
        self._proposals: list[int] = []

    def decide(self, state: AppState, history: MetricHistory, now: float) -> ScalingDecision:
        cfg = self.config
        if state.status != RUNNING:
            self._proposals = []
            return ScalingDecision.keep(state, "not running")
        done = state.last_rescale_done_at
        if done is not None and now - done < cfg.warmup_intervals * cfg.interval_s:
            return ScalingDecision.keep(state, "warm-up")
        latest = history.latest(PROCESSED_RATE, now)
        if latest is None or (done is not None and latest.time < done):
            return ScalingDecision.keep(state, "no fresh metrics")
        busy = history.value_at(BUSY_TIME, latest.time)
        rate = history.value_at(INPUT_RATE, latest.time)
        if not busy or rate is None:
            return ScalingDecision.keep(state, "metrics missing")
        per_instance = latest.value / (busy / 1000.0) / state.current_kpu
        proposal = clamp(math.ceil(rate / per_instance - 1e-9), cfg.min_kpu, cfg.max_kpu)
        self._proposals = (self._proposals + [proposal])[-cfg.activation_intervals:]
        p = state.current_kpu
        inputs = {"input_rate": rate, "true_rate_per_kpu": per_instance, "proposals": list(self._proposals)}
        if len(self._proposals) < cfg.activation_intervals:
            return ScalingDecision(p, p, "activating", inputs)
        if all(q > p for q in self._proposals) or all(q < p for q in self._proposals):
            target = max(self._proposals)
            self._proposals = []
            return ScalingDecision(p, target, "DS2 optimal parallelism", inputs)
        return ScalingDecision(p, p, "proposals disagree or match", inputs)
