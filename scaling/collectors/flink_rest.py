"""Signals from a self-managed Flink cluster's REST API.

Rates come from differences of cumulative counters between two collects, not from Flink's
``...PerSecond`` meters (they average over 60 s, too slow to see a rescale's effect). The
counters are the per-vertex sums in one ``GET /jobs/<id>`` response (read-records,
write-records, accumulated-busy-time, accumulated-backpressured-time): one response is one
metric-store snapshot, so the counters agree with each other. Separate per-vertex metric calls
do not: each may be served before or after the JobManager's asynchronous metric fetch.

Recorded per period:

- processed_records_per_second: records the source vertices emitted per second;
- busyTimeMsPerSecond / backPressuredTimeMsPerSecond: per vertex, the mean over its subtasks,
  then the maximum over vertices (the bottleneck, as Managed Flink reports it);
- KPUs: the job's parallelism / parallelism_per_kpu;
- millisBehindLatest: the largest source lag gauge present (a Kinesis connector's
  ``millisBehindLatest``, else FLIP-33 ``currentEmitEventTimeLag``); pendingRecords likewise.

While the job is not RUNNING (restarting after a rescale), and for ``startup_grace_s`` after its
tasks start, the rates are recorded as missing; no rate spans a restart.
"""
from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

from scaling.backends.base import BackendError
from scaling.decision import ScalingConfigError
from scaling.flink_api import FlinkRestClient, FlinkRestError
from scaling.signals import BACKPRESSURE, BUSY_TIME, KPUS, LAG_MS, PENDING_RECORDS, PROCESSED_RATE, MetricHistory

FLINK_METRICS = (PROCESSED_RATE, BUSY_TIME, BACKPRESSURE, KPUS)
BUSY, BACKPRESSURED, IDLE = "accumulated-busy-time", "accumulated-backpressured-time", "accumulated-idle-time"
READ, WRITTEN = "read-records", "write-records"


@dataclass(frozen=True)
class FlinkRestSignalsConfig:
    url: str
    """JobManager REST address."""
    job: str
    """Job name or id (a name follows the job across savepoint resubmits)."""
    period_s: float = 60.0
    """Datapoint period: call collect about once per period."""
    lookback_s: float = 3600.0
    """How much history is kept."""
    parallelism_per_kpu: int = 1
    """Task slots per KPU, for the KPUs metric."""
    lag_metrics: tuple[str, ...] = ("millisBehindLatest", "currentEmitEventTimeLag")
    """Source gauges read as lag in ms, in order of preference (max over subtasks)."""
    pending_metric: str = "pendingRecords"
    """Source gauge of records not yet read (sum over subtasks)."""
    fetch_settle_s: float = 1.0
    """The JobManager serves metrics from a store it refreshes asynchronously when asked: ask, wait this long, read."""
    startup_grace_s: float = 30.0
    """No rates from the first seconds after the job's tasks (re)started: they are busy initialising, not processing."""
    http_timeout_s: float = 10.0
    """Timeout of one REST call."""

    def __post_init__(self) -> None:
        if self.period_s <= 0 or self.lookback_s < self.period_s:
            raise ScalingConfigError("need period_s > 0 and lookback_s >= period_s")


@dataclass
class _Snapshot:
    time: float
    job_id: str
    running: bool
    started_at: float = 0.0
    complete: bool = True
    parallelism: dict[str, int] = field(default_factory=dict)
    counters: dict[str, dict[str, float]] = field(default_factory=dict)
    sources: frozenset[str] = frozenset()
    lag_ms: float | None = None
    pending: float | None = None


def _task_time(snap: _Snapshot) -> float:
    return sum(c.get(BUSY, 0) + c.get(BACKPRESSURED, 0) + c.get(IDLE, 0) for c in snap.counters.values())


class FlinkRestCollector:
    def __init__(self, config: FlinkRestSignalsConfig, *, api: FlinkRestClient | None = None) -> None:
        self.config = config
        self.api = api or FlinkRestClient(config.url, config.http_timeout_s)
        self._rows: dict[tuple[str, float], float | None] = {}
        self._last: _Snapshot | None = None

    async def collect(self, now: float) -> MetricHistory:
        return await asyncio.to_thread(self.collect_sync, now)

    def collect_sync(self, now: float) -> MetricHistory:
        try:
            snap = self._snapshot(now)
        except FlinkRestError as exc:
            raise BackendError(str(exc)) from None
        if not self._stale(snap):
            self._record(snap)
            self._last = snap
        horizon = now - self.config.lookback_s
        self._rows = {k: v for k, v in self._rows.items() if k[1] >= horizon}
        return MetricHistory.from_records({"metric": m, "time": t, "value": v} for (m, t), v in self._rows.items())

    def _snapshot(self, now: float) -> _Snapshot:
        job_id = self.api.resolve_job(self.config.job)
        if self.config.fetch_settle_s > 0:
            self.api.job(job_id)  # triggers the JobManager's metric fetch; this reply still holds the old store
            time.sleep(self.config.fetch_settle_s)  # blocking on purpose: collect runs this in a worker thread
        job = self.api.job(job_id)
        vertices = job.get("vertices", [])
        running = job["state"] == "RUNNING" and all(v.get("status") == "RUNNING" for v in vertices)
        snap = _Snapshot(now, job_id, running)
        if not running:
            return snap
        snap.started_at = max((v.get("start-time", 0) for v in vertices), default=0) / 1000.0
        snap.sources = frozenset(self.api.source_vertices(job))
        for v in vertices:
            metrics = v.get("metrics", {})
            snap.parallelism[v["id"]] = v["parallelism"]
            snap.counters[v["id"]] = {k: float(x) for k, x in metrics.items()
                                      if isinstance(x, (int, float)) and not isinstance(x, bool)}
            # "...-complete": false means the JobManager has not fetched every subtask's metrics yet
            snap.complete &= all(x is not False for k, x in metrics.items() if k.endswith("-complete"))
        lags, pendings = [], []
        for vid in snap.sources:
            # listed each time: a connector registers its gauges only once records flow
            names = self.api.subtask_metric_names(job_id, vid)
            for wanted in self.config.lag_metrics:
                found = [n for n in names if n == wanted or n.endswith("." + wanted)]
                if found:
                    lags += self.api.subtask_metrics(job_id, vid, found, "max").values()
                    break
            wanted = self.config.pending_metric
            pending = [n for n in names if n == wanted or n.endswith("." + wanted)]
            pendings += self.api.subtask_metrics(job_id, vid, pending, "sum").values()
        snap.lag_ms = max(lags) if lags else None
        snap.pending = sum(pendings) if pendings else None
        return snap

    def _stale(self, snap: _Snapshot) -> bool:
        """The same metric store as last time (a fetch that did not land): a running task's busy + idle +
        back-pressured time always grows, so unchanged totals mean no new data, not an idle job."""
        prev = self._last
        if prev is None or not (prev.running and snap.running) or prev.job_id != snap.job_id:
            return False
        return snap.complete and prev.complete and _task_time(snap) == _task_time(prev)

    def _source_records(self, snap: _Snapshot) -> float:
        """Records the sources emitted; a source chained into a sink writes nothing, so read what it read."""
        return sum(snap.counters[v].get(WRITTEN) or snap.counters[v].get(READ, 0.0) for v in snap.sources)

    def _record(self, snap: _Snapshot) -> None:
        prev = self._last
        if prev is None:
            return
        t = math.floor(prev.time / self.config.period_s) * self.config.period_s
        dt = snap.time - prev.time
        comparable = (prev.running and snap.running and prev.complete and snap.complete and prev.job_id == snap.job_id
                      and dt > 0
                      and prev.parallelism == snap.parallelism
                      and prev.time >= snap.started_at + self.config.startup_grace_s)
        values: dict[str, float | None] = dict.fromkeys(FLINK_METRICS)
        if comparable:
            busy, backpressure = [], []
            for vid, par in snap.parallelism.items():
                now_c, old_c = snap.counters[vid], prev.counters.get(vid, {})
                for name, out in ((BUSY, busy), (BACKPRESSURED, backpressure)):
                    if name in now_c and name in old_c and now_c[name] >= old_c[name]:
                        out.append((now_c[name] - old_c[name]) / dt / par)  # ms per second, mean over subtasks
            produced = self._source_records(snap) - self._source_records(prev)
            values[PROCESSED_RATE] = produced / dt if produced >= 0 else None
            values[BUSY_TIME] = min(1000.0, max(busy)) if busy else None
            values[BACKPRESSURE] = min(1000.0, max(backpressure)) if backpressure else None
            values[KPUS] = float(math.ceil(max(snap.parallelism.values()) / self.config.parallelism_per_kpu))
        if snap.running:
            values[LAG_MS] = snap.lag_ms
            values[PENDING_RECORDS] = snap.pending
        for metric, value in values.items():
            if value is not None or metric in FLINK_METRICS:
                self._rows[(metric, t)] = value
