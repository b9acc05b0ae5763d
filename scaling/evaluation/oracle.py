"""The offline optimum: dynamic programming over KPU levels, knowing the whole trace.

Time is cut into epochs (5 minutes by default, at least one rescale's downtime plus
warm-up). In each epoch the oracle holds one level, may rescale at the epoch start,
and must end the epoch with the backlog worked off (so epochs are independent given
the level and whether it rescaled). Each (epoch, level, rescaled?) is run through the
same fluid model as the simulator, vectorised with numpy over epochs and levels; its
cost is KPU-hours + penalty x minutes over the SLO, which also prices a rescale
(its downtime and catch-up). The DP picks the cheapest sequence of levels.

It is a lower bound only within that family (levels change on epoch boundaries); the
test suite checks that it is below every policy's cost on its traces.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from scaling.decision import AppState, ScalingDecision
from scaling.signals import MetricHistory
from scaling.evaluation.simulate import SimulationConfig
from scaling.evaluation.traces import Trace

INFEASIBLE_COST = 1e3
"""Added (KPU-hours) to an epoch that ends with backlog left, so the DP only picks it when nothing else works."""


@dataclass(frozen=True)
class OraclePlan:
    epoch_s: float
    levels: tuple[int, ...]
    expected_cost: float

    def level_at(self, t: float) -> int:
        """Level for ``t`` seconds from the trace's start."""
        return self.levels[min(len(self.levels) - 1, max(0, int(t // self.epoch_s)))]


def oracle_epoch(sim: SimulationConfig, epoch_s: float = 300.0) -> float:
    """A multiple of the decision interval that fits a whole rescale (downtime + warm-up)."""
    step = sim.decision_interval_s
    need = max(epoch_s, sim.downtime_s + sim.warmup_s)
    return math.ceil(need / step - 1e-9) * step


def _epoch_costs(trace: Trace, sim: SimulationConfig, epoch_s: float, levels: np.ndarray, rescaled: bool) -> np.ndarray:
    dt = sim.dt_s
    m = int(round(epoch_s / dt))
    n_steps = int(math.floor(trace.duration / dt + 1e-9))
    epochs = math.ceil(n_steps / m)
    j = np.arange(epochs * m)
    valid = (j < n_steps).reshape(epochs, m)
    lam = np.where(j < n_steps, trace.rate_at(j * dt + dt / 2), 0.0).reshape(epochs, m)
    arrivals = lam * dt
    cum = np.concatenate([np.zeros((epochs, 1)), np.cumsum(arrivals, axis=1)], axis=1)
    # One sorted array for all epochs: row e is shifted by e * big, so searchsorted inverts
    # every epoch's arrival curve A_e at once (np.interp has no batched form).
    big = float(cum[:, -1].max()) * 2.0 + 1.0
    offset = (np.arange(epochs) * big)[:, None]
    flat = (cum + offset).ravel()
    row0 = np.broadcast_to((np.arange(epochs) * (m + 1))[:, None], (epochs, len(levels)))
    cap_dt = np.asarray(sim.capacity(levels), dtype=float)[None, :] * dt
    backlog = np.zeros((epochs, len(levels)))
    done = np.zeros_like(backlog)
    over = np.zeros_like(backlog)
    for s in range(m):
        factor = float(sim.rescale_factor(s * dt)) if rescaled else 1.0
        a = arrivals[:, s : s + 1]
        processed = np.minimum(cap_dt * factor, backlog + a)
        backlog = np.maximum(0.0, backlog + a - processed)
        done += processed
        key = done + offset
        idx = np.searchsorted(flat, key.ravel(), side="right").reshape(key.shape)
        idx = np.clip(idx, row0 + 1, row0 + s + 1)
        a0, a1 = flat[idx - 1], flat[idx]
        t0 = (idx - row0 - 1) * dt
        oldest = np.where(a1 > a0, t0 + dt * (key - a0) / np.where(a1 > a0, a1 - a0, 1.0), t0)
        age = np.where(backlog > 1e-9 * np.maximum(1.0, cum[:, s + 1 : s + 2]), (s + 1) * dt - oldest, 0.0)
        over += dt * ((age > sim.slo_lag_s) & valid[:, s : s + 1])
    billed = levels[None, :] * valid.sum(axis=1, keepdims=True) * dt / 3600.0
    cost = billed + sim.slo_penalty_kpu_hours_per_minute * over / 60.0
    last_rate = np.maximum(lam.max(axis=1, keepdims=True), 1e-9)
    leftover_s = backlog / last_rate  # seconds of input still queued at the epoch's end
    return cost + np.where(leftover_s > 1.0, INFEASIBLE_COST + leftover_s, 0.0)


def plan_oracle(trace: Trace, sim: SimulationConfig = SimulationConfig(), epoch_s: float = 300.0) -> OraclePlan:
    epoch_s = oracle_epoch(sim, epoch_s)
    levels = np.arange(sim.min_kpu, sim.max_kpu + 1)
    steady = _epoch_costs(trace, sim, epoch_s, levels, rescaled=False)
    moved = _epoch_costs(trace, sim, epoch_s, levels, rescaled=True)
    value = steady[0].copy()  # the oracle also picks its starting size, free of charge
    came_from = np.zeros(steady.shape, dtype=int)
    came_from[0] = np.arange(len(levels))
    for e in range(1, len(steady)):
        order = np.argsort(value)
        best, second = order[0], order[1] if len(order) > 1 else order[0]
        other = np.where(np.arange(len(levels)) == best, second, best)  # cheapest predecessor q != k
        stay = value + steady[e]
        move = value[other] + moved[e]
        came_from[e] = np.where(stay <= move, np.arange(len(levels)), other)
        value = np.minimum(stay, move)
    k = int(np.argmin(value))
    path = [k]
    for e in range(len(steady) - 1, 0, -1):
        k = int(came_from[e, k])
        path.append(k)
    path.reverse()
    return OraclePlan(epoch_s, tuple(int(levels[i]) for i in path), float(value.min()))


class OraclePolicy:
    """Replays an OraclePlan in the simulator, so its numbers come from the same model as everyone's."""

    name = "oracle"

    def __init__(self, plan: OraclePlan, start_epoch_s: float) -> None:
        self.plan = plan
        self.start_epoch_s = start_epoch_s
        self.initial_kpu = plan.levels[0]

    def decide(self, state: AppState, history: MetricHistory, now: float) -> ScalingDecision:
        level = self.plan.level_at(now - self.start_epoch_s)
        return ScalingDecision(state.current_kpu, level, "oracle plan", {"epoch_s": self.plan.epoch_s})
