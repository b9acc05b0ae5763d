"""How far a local Flink job has got, from Flink's REST API, and its CPU a record in the steady part of one run.

The benches' first measure of a record's cost is the difference of two runs, a long and a short one: start-up
drops out, but only as far as it costs the same in both, and on this machine it does not (the event-sourcing
job's short run took 58.8 s of CPU in one repeat and 46.9 in the next, while its 200,000 extra events cost about
30).  Reading a counter of the job while it runs (``JobProgress``) gives a second measure from one run
(``steady_cost``): the count fitted to its CPU over the readings between two points well after start-up and
before the end.
"""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
import statistics
from typing import Any

SOURCE_RECORDS = r"Source__.*\.numRecordsOut"
"""The source operator's emitted records (``Source__<table>[1]``): a job's progress where the source is chained
to the rest.  Where a Python operator follows, the source runs ahead by whole bundles: count an operator after
it (a sink's ``<name>__Writer.numRecordsIn``)."""


class JobProgress:
    """A counter of the one job on a local cluster's REST port (``FlinkConfig.rest_port``), summed over its
    subtasks: the first metric of any vertex whose name (less its subtask's ``0.``) matches ``metric``; None
    until the job and its metric are up."""

    def __init__(self, port: int, metric: str = SOURCE_RECORDS, timeout_s: float = 0.5) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.metric = re.compile(rf"^0\.({metric})$")
        self.timeout_s = timeout_s
        self._query: str | None = None

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=self.timeout_s) as answer:
            return json.load(answer)

    def records(self) -> int | None:
        try:
            if self._query is None:
                self._query = self._find()
                if self._query is None:
                    return None
            answer = self._get(self._query)
        except (OSError, ValueError, KeyError, urllib.error.URLError):
            return None  # not up yet, or gone: the caller keeps its last reading
        return int(answer[0]["sum"]) if answer else None

    def _find(self) -> str | None:
        jobs = self._get("/jobs/overview")["jobs"]
        if not jobs:
            return None
        job = jobs[0]["jid"]
        for vertex in self._get(f"/jobs/{job}")["vertices"]:
            for metric in self._get(f"/jobs/{job}/vertices/{vertex['id']}/metrics"):
                found = self.metric.match(metric["id"])
                if found:
                    return (f"/jobs/{job}/vertices/{vertex['id']}/subtasks/metrics?get="
                            f"{urllib.parse.quote(found.group(1), safe='')}&agg=sum")
        return None


def steady_cost(trace: list[tuple[int, float, float, float]], records: int, start: float = 0.3,
                end: float = 0.9) -> dict[str, Any] | None:
    """CPU microseconds a record over the readings from ``start`` to ``end`` of a run's ``records``: ``trace``
    holds (count, JVM CPU s, Python CPU s, JIT CPU s) in time order, the count being of the run's input records
    as they pass the counter.  None when the window holds fewer than three readings or under half its span (a
    job too short for the REST metrics' one-second refresh).

    The window is set by ``records``, not by the last reading: a job can end a second after the last refresh
    (one run's last reading was 150,000 of 200,000).  The count is fitted to the CPU by least squares, not read
    at the window's two ends: a sink's count after a Python step grows in bursts (a bundle's results at a
    time, read at each refresh) while CPU grows smoothly; the noise is in the count, so the count is the fitted
    variable.  The split by process (and the JIT's part) is that of the CPU between the window's ends."""
    window = [row for row in trace if start * records <= row[0] <= end * records]
    if len(window) < 3 or window[-1][0] - window[0][0] < (end - start) * records / 2:
        return None
    cpu = [row[1] + row[2] for row in window]
    if cpu[-1] <= cpu[0]:
        return None
    records_per_cpu_s = statistics.linear_regression(cpu, [row[0] for row in window]).slope
    if records_per_cpu_s <= 0:
        return None
    us_per_record = 1e6 / records_per_cpu_s
    jvm, python, jit = (us_per_record * (window[-1][i] - window[0][i]) / (cpu[-1] - cpu[0]) for i in (1, 2, 3))
    return {"records": window[-1][0] - window[0][0], "readings": len(window),
            "us_per_record": round(us_per_record, 1),
            "us_per_record_by_process": {"jvm": round(jvm, 1), "python": round(python, 1)},
            "jit_us_per_record": round(jit, 1), "us_per_record_without_jit": round(us_per_record - jit, 1)}


def in_run_cost(windows: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The median of the long runs' ``steady_cost`` windows, with their range: the second measure of a record's
    cost, beside the difference of the long and short runs."""
    windows = [window for window in windows if window]
    if not windows:
        return None
    totals = [window["us_per_record"] for window in windows]
    median = statistics.median(totals)
    without_jit = statistics.median(window["us_per_record_without_jit"] for window in windows)
    return {"us_per_record": round(median, 1), "us_per_record_range": [min(totals), max(totals)],
            "python_us_per_record": round(statistics.median(w["us_per_record_by_process"]["python"]
                                                            for w in windows), 1),
            "jit_us_per_record": round(statistics.median(window["jit_us_per_record"] for window in windows), 1),
            "us_per_record_without_jit": round(without_jit, 1),
            "records_per_s_per_core": round(1e6 / median, 1) if median > 0 else None,
            "records_per_s_per_core_without_jit": round(1e6 / without_jit, 1) if without_jit > 0 else None,
            "window": "from 30% to 90% of the records read, in each long run"}
