"""The autoscaling controller: signals -> policy -> decision -> backend, one application at a time.

Each cycle: take the application's lock (in-process, plus an optional FileLock/DynamoDBLock for
several controller processes) or skip the cycle; describe the application; collect its metric
history; ask the policy; in dry-run mode stop there, else apply the decision and wait until the
application is RUNNING at its new size. Every cycle is one decision-log line (inputs, decision,
reason, action), one structured log event, and Prometheus metrics ``shardline_autoscaler_*``.
Time comes from the injected clock.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import weakref
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from pipelines.clock import SYSTEM_CLOCK, Clock
from scaling.backends.base import (
    ApplyResult,
    BackendError,
    PermissionDenied,
    QuotaExceeded,
    ScalingBackend,
    ScalingConflict,
    ScalingTimeout,
)
from scaling.collectors.base import SignalCollector
from scaling.decision import RUNNING, AppState, Policy, ScalingDecision
from scaling.decision_log import DecisionLog, entry
from scaling.locks import AppLock
from scaling.signals import MetricHistory

log = logging.getLogger("shardline.scaling.controller")

FATAL = (PermissionDenied, QuotaExceeded)
"""Errors a user must fix: the controller stops on them instead of retrying every cycle."""


@dataclass(frozen=True)
class ControllerConfig:
    app: str
    """Application (Managed Flink name, or Flink job name) this controller sizes."""
    interval_s: float = 60.0
    """Seconds between cycles in ``run``."""
    dry_run: bool = False
    """Decide and log, never apply."""
    wait_timeout_s: float | None = None
    """How long a rescale may take to reach RUNNING; None: the backend's default."""
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    """Lock owner id of this controller process."""


class Cycle(NamedTuple):
    """What one cycle saw and did."""

    time: float
    state: AppState | None
    decision: ScalingDecision | None
    action: str
    """plan, dry-run, kept, applied, locked, conflict, timeout or error."""
    detail: str = ""
    result: ApplyResult | None = None


class ControllerMetrics(NamedTuple):
    cycles: Counter
    rescales: Counter
    current_kpus: Gauge
    target_kpus: Gauge
    rescale_seconds: Histogram
    errors: Counter


_METRICS: "weakref.WeakKeyDictionary[CollectorRegistry, ControllerMetrics]" = weakref.WeakKeyDictionary()
_INFLIGHT: set[str] = set()
_INFLIGHT_GUARD = threading.Lock()


def controller_metrics(registry: CollectorRegistry | None = None) -> ControllerMetrics:
    registry = registry or REGISTRY
    if registry not in _METRICS:
        app = ["app"]
        _METRICS[registry] = ControllerMetrics(
            Counter("shardline_autoscaler_cycles_total", "Controller cycles by what they did.", ["app", "action"],
                    registry=registry),
            Counter("shardline_autoscaler_rescales_total", "Rescales started.", ["app", "direction"], registry=registry),
            Gauge("shardline_autoscaler_current_kpus", "KPUs the application runs with.", app, registry=registry),
            Gauge("shardline_autoscaler_target_kpus", "KPUs the last decision asked for.", app, registry=registry),
            Histogram("shardline_autoscaler_rescale_duration_seconds", "From UpdateApplication (or PUT) to RUNNING.",
                      app, buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 1800), registry=registry),
            Counter("shardline_autoscaler_errors_total", "Cycles that ended in an error, by type.", ["app", "error"],
                    registry=registry),
        )
    return _METRICS[registry]


class Controller:
    def __init__(self, config: ControllerConfig, *, policy: Policy, collector: SignalCollector,
                 backend: ScalingBackend, clock: Clock = SYSTEM_CLOCK, registry: CollectorRegistry | None = None,
                 lock: AppLock | None = None, decision_log: DecisionLog | None = None) -> None:
        self.config = config
        self.policy = policy
        self.collector = collector
        self.backend = backend
        self.clock = clock
        self.lock = lock
        self.decision_log = decision_log
        self.metrics = controller_metrics(registry)
        self.last_rescale_at: float | None = None
        self.last_rescale_done_at: float | None = None

    def _with_history(self, state: AppState) -> AppState:
        """The backend's view of the last rescale, or ours where ours is newer."""
        def newest(a: float | None, b: float | None) -> float | None:
            return b if a is None else a if b is None else max(a, b)
        return replace(state, last_rescale_at=newest(state.last_rescale_at, self.last_rescale_at),
                       last_rescale_done_at=newest(state.last_rescale_done_at, self.last_rescale_done_at))

    async def _decide(self) -> tuple[float, AppState, MetricHistory, ScalingDecision]:
        state = self._with_history(await self.backend.describe())
        now = self.clock.time()
        history = await self.collector.collect(now)
        return now, state, history, self.policy.decide(state, history, now)

    def _finish(self, cycle: Cycle, history: MetricHistory | None) -> Cycle:
        app, m = self.config.app, self.metrics
        m.cycles.labels(app, cycle.action).inc()
        if cycle.state is not None:
            m.current_kpus.labels(app).set(cycle.state.current_kpu)
        if cycle.decision is not None:
            m.target_kpus.labels(app).set(cycle.decision.target)
        d = cycle.decision
        log.info("event=cycle app=%s action=%s current=%s target=%s reason=%r detail=%r", app, cycle.action,
                 d.current if d else None, d.target if d else None, d.reason if d else None, cycle.detail)
        if self.decision_log is not None and d is not None and cycle.state is not None and history is not None:
            self.decision_log.append(entry(time=cycle.time, app=app, policy=getattr(self.policy, "name", "?"),
                                           state=cycle.state, history=history, decision=d, action=cycle.action,
                                           detail=cycle.detail))
        return cycle

    async def plan(self) -> Cycle:
        """Describe, collect, decide; change nothing."""
        now, state, history, decision = await self._decide()
        return self._finish(Cycle(now, state, decision, "plan"), history)

    async def step(self) -> Cycle:
        """One cycle. Raises PermissionDenied/QuotaExceeded (fatal); other errors end the cycle as data."""
        app = self.config.app
        with _INFLIGHT_GUARD:
            if app in _INFLIGHT:
                return self._finish(Cycle(self.clock.time(), None, None, "locked", "a decision is in flight here"), None)
            _INFLIGHT.add(app)
        try:
            if self.lock is not None and not await self.lock.acquire(app, self.config.owner):
                return self._finish(Cycle(self.clock.time(), None, None, "locked", "another controller holds the lock"),
                                    None)
            try:
                return await self._step()
            finally:
                if self.lock is not None:
                    await self.lock.release(app, self.config.owner)
        finally:
            with _INFLIGHT_GUARD:
                _INFLIGHT.discard(app)

    async def _step(self) -> Cycle:
        app = self.config.app
        try:
            now, state, history, decision = await self._decide()
        except FATAL:
            self.metrics.errors.labels(app, "fatal").inc()
            raise
        except BackendError as exc:
            self.metrics.errors.labels(app, type(exc).__name__).inc()
            return self._finish(Cycle(self.clock.time(), None, None, "error", str(exc)), None)
        if not decision.changed or state.status != RUNNING:
            return self._finish(Cycle(now, state, decision, "kept"), history)
        if self.config.dry_run:
            return self._finish(Cycle(now, state, decision, "dry-run"), history)
        started = self.clock.monotonic()
        try:
            result = await self.backend.apply(decision, state)
            if result.started:
                self.last_rescale_at = self.clock.time()
                direction = "up" if decision.target > decision.current or (
                    decision.parallelism or 0) > (decision.current_parallelism or 0) else "down"
                self.metrics.rescales.labels(app, direction).inc()
                timeout = self.config.wait_timeout_s
                await (self.backend.wait_until_running(timeout) if timeout is not None
                       else self.backend.wait_until_running())
                self.last_rescale_done_at = self.clock.time()
                self.metrics.rescale_seconds.labels(app).observe(self.clock.monotonic() - started)
        except FATAL:
            self.metrics.errors.labels(app, "fatal").inc()
            raise
        except ScalingConflict as exc:
            self.metrics.errors.labels(app, "conflict").inc()
            return self._finish(Cycle(now, state, decision, "conflict", str(exc)), history)
        except ScalingTimeout as exc:
            self.metrics.errors.labels(app, "timeout").inc()
            return self._finish(Cycle(now, state, decision, "timeout", str(exc)), history)
        except BackendError as exc:
            self.metrics.errors.labels(app, type(exc).__name__).inc()
            return self._finish(Cycle(now, state, decision, "error", str(exc)), history)
        action = "applied" if result.started else "kept"
        return self._finish(Cycle(now, state, decision, action, f"{result.method} {result.detail}".strip(), result),
                            history)

    async def run(self, max_cycles: int | None = None) -> list[Cycle]:
        """Cycle every interval_s until ``max_cycles`` (forever if None); fatal errors end it."""
        cycles: list[Cycle] = []  # kept only when bounded: a forever loop must not grow
        done = 0
        while max_cycles is None or done < max_cycles:
            started = self.clock.monotonic()
            cycle = await self.step()
            done += 1
            if max_cycles is not None:
                cycles.append(cycle)
                if done >= max_cycles:
                    break
            await self.clock.sleep(max(0.0, self.config.interval_s - (self.clock.monotonic() - started)))
        return cycles
