"""The Flink REST collector on responses recorded from a real standalone cluster (tests/e2e/record_flink_rest.py):
a throttled job whose one subtask processes 200 records/s, fed 300 records/s, so it falls behind."""
import copy
import json
from pathlib import Path

import pytest

from scaling.collectors.flink_rest import FlinkRestCollector, FlinkRestSignalsConfig
from scaling.flink_api import FlinkRestClient
from scaling.signals import BACKPRESSURE, BUSY_TIME, KPUS, LAG_MS, PROCESSED_RATE

RECORDING = json.loads((Path(__file__).parent / "data" / "flink_rest_recording.json").read_text())


class Replay(FlinkRestClient):
    """Answers each call with the next recorded response, checking that the calls come in the recorded order."""

    def __init__(self, calls):
        super().__init__("http://recorded")
        self.calls = copy.deepcopy(calls)

    def call(self, method, path, body=None, **kw):
        expected = self.calls.pop(0)
        assert (method, path) == (expected["method"], expected["path"])
        return expected["response"]


@pytest.fixture
def replayed(monkeypatch):
    monkeypatch.setattr("scaling.collectors.flink_rest.time.sleep", lambda s: None)
    api = Replay(RECORDING["calls"])
    config = FlinkRestSignalsConfig(url="http://recorded", job=RECORDING["job"], period_s=5, startup_grace_s=5)
    starts = [c["time"] - 0.01 for c in RECORDING["calls"] if c["path"] == "/jobs/overview"]
    return FlinkRestCollector(config, api=api), starts, api


def test_recorded_responses_become_the_signals_the_live_run_computed(replayed):
    collector, starts, api = replayed
    histories = [collector.collect_sync(t) for t in starts]
    assert api.calls == []
    assert histories[0].to_records() == []  # the first collect is only a baseline for the counters
    replayed = histories[-1].to_records()
    # the live run's clock read differs from the recorded call times by milliseconds, hence approx
    assert [(r["metric"], r["time"]) for r in replayed] == [(r["metric"], r["time"]) for r in RECORDING["history"]]
    assert [r["value"] for r in replayed] == pytest.approx([r["value"] for r in RECORDING["history"]], rel=0.02)
    last = histories[-1]
    rates = last.values(PROCESSED_RATE)
    assert all(160 < r <= 205 for r in rates)  # the throttle's 200 records/s, measured through the REST API
    assert all(b > 900 for b in last.values(BUSY_TIME))  # the throttle is the bottleneck ...
    assert all(b > 900 for b in last.values(BACKPRESSURE))  # ... and the source waits on it
    assert last.values(KPUS) == [1.0, 1.0]
    lags = last.values(LAG_MS)
    assert lags[1] > lags[0] > 5000  # falling behind


def _job(state="RUNNING", parallelism=1, busy=0.0, idle=0.0, records=0, complete=True, start=0):
    metrics = {"read-records": records, "write-records": records, "accumulated-busy-time": busy,
               "accumulated-idle-time": idle, "accumulated-backpressured-time": 0, "write-records-complete": complete}
    return {"state": state, "plan": {"nodes": [{"id": "src"}]},
            "vertices": [{"id": "src", "parallelism": parallelism, "status": state, "start-time": start, "metrics": metrics}]}


class Scripted(FlinkRestClient):
    def __init__(self, jobs):
        super().__init__("http://scripted")
        self.jobs = list(jobs)

    def resolve_job(self, job):
        return "a" * 32

    def job(self, job_id):
        return self.jobs[0]

    def subtask_metric_names(self, job_id, vertex_id):
        return []

    def next(self):
        self.jobs.pop(0)


def test_no_rates_across_a_restart_a_stale_store_or_incomplete_metrics():
    api = Scripted([_job(busy=0, idle=0, records=0, complete=False), _job(busy=500, idle=500, records=100),
                    _job(busy=500, idle=500, records=100),  # the same store again: stale, skipped
                    _job(busy=1500, idle=1500, records=300), _job(state="RESTARTING"),
                    _job(parallelism=2, busy=10, idle=10, records=5), _job(parallelism=2, busy=2010, idle=10, records=805)])
    collector = FlinkRestCollector(FlinkRestSignalsConfig(url="x", job="j", period_s=10, fetch_settle_s=0,
                                                          startup_grace_s=0), api=api)
    times = [100.0, 110.0, 120.0, 130.0, 140.0, 150.0, 160.0]
    for i, t in enumerate(times):
        history = collector.collect_sync(t)
        if i < len(times) - 1:
            api.next()
    rows = {(r["metric"], r["time"]): r["value"] for r in history.to_records()}
    assert rows[(PROCESSED_RATE, 100.0)] is None  # the baseline's metrics were incomplete
    # 110 -> 130 spans the stale read (nothing recorded for it): 200 records and 1000 busy ms in 20 s
    assert rows[(PROCESSED_RATE, 110.0)] == pytest.approx(10.0) and rows[(BUSY_TIME, 110.0)] == pytest.approx(50.0)
    assert (PROCESSED_RATE, 120.0) not in rows
    assert rows[(PROCESSED_RATE, 130.0)] is None and rows[(KPUS, 140.0)] is None  # restarting: missing, never 0
    assert rows[(PROCESSED_RATE, 150.0)] == pytest.approx(80.0) and rows[(BUSY_TIME, 150.0)] == pytest.approx(100.0)
    assert rows[(KPUS, 150.0)] == 2.0
