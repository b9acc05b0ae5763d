"""The in-run measure of a Flink job's cost: its counter read from a REST API as Flink serves it, and the window."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from benchmarks.flink_progress import SOURCE_RECORDS, JobProgress, in_run_cost, steady_cost


def test_the_window_counts_cpu_between_30_and_90_percent_of_the_last_count():
    # (count, JVM s, Python s, JIT s): start-up costs 20 s before the first record, then 100 us a record.
    trace = [(0, 18.0, 2.0, 8.0)] + [(n, 18.0 + n * 60e-6, 2.0 + n * 40e-6, 8.0 + n * 10e-6)
                                     for n in range(10_000, 100_001, 10_000)]
    cost = steady_cost(trace, 100_000)
    assert cost["records"] == 60_000  # 30,000 to 90,000
    assert cost["us_per_record"] == pytest.approx(100.0)
    assert cost["us_per_record_by_process"] == {"jvm": pytest.approx(60.0), "python": pytest.approx(40.0)}
    assert cost["us_per_record_without_jit"] == pytest.approx(90.0)


def test_a_count_that_grows_in_bursts_is_fitted_not_read_at_the_ends():
    # 100 us a record, read every 2,500 records; the sink's count moves 20,000 at a time (a bundle's results),
    # so a window's end readings can be most of a burst out.  The fit over every reading in it is not.
    trace = [(n // 20_000 * 20_000, 18.0 + n * 60e-6, 2.0 + n * 40e-6, 0.0) for n in range(0, 300_001, 2_500)]
    cost = steady_cost(trace, 300_000)
    assert cost["us_per_record"] == pytest.approx(100.0, rel=0.05)
    ends = [row for row in trace if 90_000 <= row[0] <= 270_000]
    from_ends = (ends[-1][1] + ends[-1][2] - ends[0][1] - ends[0][2]) / (ends[-1][0] - ends[0][0]) * 1e6
    assert abs(from_ends - 100.0) > 10.0  # what the two end readings alone would have said


def test_the_window_is_set_by_the_runs_records_not_by_the_last_reading():
    # The job ended between two refreshes of its metrics: the last reading is 150,000 of 200,000 records.
    trace = [(n, n * 100e-6, 0.0, 0.0) for n in range(0, 150_001, 10_000)]
    cost = steady_cost(trace, 200_000)
    assert cost["records"] == 90_000 and cost["us_per_record"] == pytest.approx(100.0)  # 60,000 to 150,000


def test_a_trace_too_coarse_for_a_window_says_so():
    assert steady_cost([], 100_000) is None
    assert steady_cost([(0, 1.0, 0.0, 0.0), (0, 9.0, 1.0, 1.0)], 600) is None  # a short run: the sink took none yet
    assert steady_cost([(0, 1.0, 0.0, 0.0), (100_000, 9.0, 1.0, 1.0)], 100_000) is None
    assert in_run_cost([None, None]) is None


def test_runs_are_summed_up_by_their_median_and_range():
    windows = [steady_cost([(n, n * us * 1e-6, 0.0, 0.0) for n in range(0, 100_001, 10_000)], 100_000)
               for us in (90, 100, 130)]
    summary = in_run_cost([*windows, None])
    assert summary["us_per_record"] == pytest.approx(100.0)
    assert summary["us_per_record_range"] == [pytest.approx(90.0), pytest.approx(130.0)]
    assert summary["records_per_s_per_core"] == pytest.approx(10_000, rel=1e-3)


class _FlinkRest(BaseHTTPRequestHandler):
    """The four answers JobProgress reads, shaped as Flink 2.2's REST API gives them."""

    count = 0

    def do_GET(self):  # noqa: N802 - http.server's name
        path = self.path
        if path == "/jobs/overview":
            body = {"jobs": [{"jid": "j1", "state": "RUNNING"}]}
        elif path == "/jobs/j1":
            body = {"vertices": [{"id": "v1", "name": "Source: input[1] -> batch"}, {"id": "v2", "name": "es:apply"}]}
        elif path == "/jobs/j1/vertices/v1/metrics":
            body = [{"id": "0.Source__input[1].numRecordsOut"}, {"id": "0.numRecordsOut"}]
        elif path == "/jobs/j1/vertices/v2/metrics":
            body = [{"id": "0.es_apply.shardline_es_events_read"}, {"id": "0.es_apply.numRecordsIn"}]
        elif path.startswith("/jobs/j1/vertices/") and "/subtasks/metrics?get=" in path:
            name = path.split("get=")[1].split("&")[0]
            body = [{"id": name, "sum": float(type(self).count)}]
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def flink_rest():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlinkRest)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_progress_finds_the_counter_in_whichever_vertex_has_it(flink_rest):
    _FlinkRest.count = 1234
    assert JobProgress(flink_rest).records() == 1234  # the source's, by default
    events = JobProgress(flink_rest, r".*shardline_es_events_read")
    assert events.records() == 1234
    assert "v2" in events._query and "shardline_es_events_read" in events._query


def test_progress_is_none_while_nothing_answers_or_no_metric_matches(flink_rest):
    from connectors.local_stack import free_port

    assert JobProgress(free_port()).records() is None
    assert JobProgress(flink_rest, r"no_such\.metric").records() is None
    assert SOURCE_RECORDS.endswith("numRecordsOut")
