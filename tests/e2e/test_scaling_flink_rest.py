"""The autoscaler end to end on a real Flink standalone cluster (adaptive scheduler) fed from kinesalite.

A throttled job (each subtask processes 200 records/s) reads a 2-shard stream that a load thread
fills at 300 records/s, so at parallelism 1 the lag grows. The load thread also publishes the
stream's IncomingRecords to CloudWatch (moto), standing in for the Kinesis service's own metric.
The controller, built from a policy document by the same wiring the CLI uses, reads CloudWatch
and the Flink REST API, decides, rescales in place (PUT resource-requirements), and the lag falls.
Then the fallback: stop-with-savepoint and resubmit at a new parallelism, restored from the savepoint.

Periods are 5 s instead of CloudWatch's 60 s so the whole story fits in about two minutes.
"""
from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from datetime import datetime, timezone

import pytest
from prometheus_client import CollectorRegistry

from connectors.aws import AwsConfig, client
from flink_standalone import JOB_CLASS, StandaloneFlink, build_job_jar
from scaling.backends.flink_rest import FlinkRestBackend, FlinkRestBackendConfig
from scaling.decision import ScalingDecision
from scaling.decision_log import read, replay
from scaling.flink_api import FlinkRestClient
from scaling.signals import LAG_MS
from scaling.spec import parse_spec
from scaling.wiring import build_controller

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(360)]

OFFERED = 300
"""Records/s the load thread writes."""
PER_SUBTASK = 200
"""Records/s one subtask of the job's throttle can process."""
PERIOD = 5


class Load(threading.Thread):
    """Writes OFFERED records/s and, each second, that second's count as AWS/Kinesis IncomingRecords."""

    def __init__(self, stream: str) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.stop = threading.Event()
        self.kinesis = client("kinesis", AwsConfig(sdk_retries=3))
        self.cloudwatch = client("cloudwatch", AwsConfig(sdk_retries=3))
        self.sent = 0

    def run(self) -> None:
        second, count, tick = int(time.time()), 0, time.monotonic()
        while not self.stop.is_set():
            batch = OFFERED // 10
            self.kinesis.put_records(StreamName=self.stream, Records=[
                {"Data": os.urandom(64), "PartitionKey": str(self.sent + i)} for i in range(batch)])
            self.sent += batch
            count += batch
            if int(time.time()) != second:
                self.cloudwatch.put_metric_data(Namespace="AWS/Kinesis", MetricData=[{
                    "MetricName": "IncomingRecords", "Dimensions": [{"Name": "StreamName", "Value": self.stream}],
                    "Timestamp": datetime.fromtimestamp(second + 0.5, timezone.utc), "Value": float(count),
                    "Unit": "Count"}])
                second, count = int(time.time()), 0
            tick += 0.1
            time.sleep(max(0.0, tick - time.monotonic()))


def lag_series(log_path) -> list[tuple[float, float]]:
    """(cycle time, newest lag in ms the controller saw) per decision-log line."""
    out = []
    for _, entry in read(log_path):
        lags = [(t, v) for m, t, v in entry["history"] if m == LAG_MS and v is not None]
        if lags:
            out.append((entry["time"], max(lags)[1]))
    return out


@pytest.fixture
def cluster(tmp_path):
    flink = StandaloneFlink(tmp_path / "flink").start()
    yield flink
    flink.stop()


async def test_controller_rescales_in_place_then_savepoint_fallback(local_stack, cluster, tmp_path):
    started = time.monotonic()
    stream = f"scale-{uuid.uuid4().hex[:8]}"
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=stream, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    env = local_stack.env()
    args = [stream, str(PER_SUBTASK), f"aws.region={env['AWS_REGION']}", f"aws.endpoint={env['AWS_ENDPOINT_URL_KINESIS']}",
            "aws.cbor.enabled=false", "aws.credentials.provider=BASIC",
            f"aws.credentials.provider.basic.accesskeyid={env['AWS_ACCESS_KEY_ID']}",
            f"aws.credentials.provider.basic.secretkey={env['AWS_SECRET_ACCESS_KEY']}"]
    api = FlinkRestClient(cluster.url)
    jar_id = api.upload_jar(build_job_jar(tmp_path / "job"))
    job_id = api.run_jar(jar_id, entry_class=JOB_CLASS, args=args, parallelism=1)
    job_name = f"shardline-throttled-{stream}"
    load = Load(stream)
    load.start()
    decisions = tmp_path / "decisions.jsonl"
    spec = parse_spec({
        "policy": "target", "min_kpu": 1, "max_kpu": 4, "kpu_quota": 4,
        "target": {"period_s": PERIOD, "rate_window_s": 20, "restart_s": 10, "catch_up_s": 30, "trend_lookahead_s": 0,
                   "scale_down_window_s": 600, "horizon_s": 600, "max_staleness_s": 30, "fit_window_s": 300},
        "signals": {"cloudwatch": {"stream": stream, "lag": "none", "period_s": PERIOD, "lookback_s": 120,
                                   "missing_after_s": 15},
                    "flink_rest": {"period_s": PERIOD, "lookback_s": 300, "startup_grace_s": 5}},
        "backend": {"type": "flink-rest", "url": cluster.url, "mode": "in-place", "poll_interval_s": 0.5,
                    "wait_timeout_s": 60},
        "controller": {"interval_s": PERIOD, "lock": {"type": "file", "directory": str(tmp_path / "locks")}},
    })
    registry = CollectorRegistry()
    controller = build_controller(spec, job_name, registry=registry, decision_log=str(decisions))
    try:
        await asyncio.sleep(15)  # let the lag build at parallelism 1
        cycles = []
        while time.monotonic() - started < 200:
            cycles.append(await controller.step())
            applied = [c for c in cycles if c.action == "applied"]
            lags = lag_series(decisions)
            if applied and lags and lags[-1][0] > applied[0].time + 10 and lags[-1][1] < 1000:
                break
            await asyncio.sleep(PERIOD)
        actions = [c.action for c in cycles]
        assert actions.count("applied") == 1, [(c.action, c.decision and c.decision.reason, c.detail) for c in cycles]
        rescale = applied[0]
        assert rescale.result.method == "in-place" and rescale.decision.current == 1 and rescale.decision.target >= 2
        job = api.job(job_id)
        assert job["state"] == "RUNNING" and {v["parallelism"] for v in job["vertices"]} == {rescale.decision.target}
        lags = lag_series(decisions)
        peak = max(v for t, v in lags if t <= rescale.time + PERIOD)
        assert peak > 2000, lags  # the job really fell behind at parallelism 1
        assert lags[-1][1] < min(1000, peak / 4), lags  # and caught up after one rescale
        report = replay(decisions, spec.build_policy())
        assert report.ok and report.checked == len([c for c in cycles if c.decision is not None]), report.mismatches
        assert registry.get_sample_value("shardline_autoscaler_rescales_total", {"app": job_name, "direction": "up"}) == 1

        # the fallback: stop with a savepoint, resubmit from it at parallelism 4
        backend = FlinkRestBackend(FlinkRestBackendConfig(
            url=cluster.url, job=job_name, mode="savepoint", jar_id=jar_id, entry_class=JOB_CLASS,
            program_args=tuple(args), poll_interval_s=0.5, wait_timeout_s=60))
        state = await backend.describe()
        result = await backend.apply(ScalingDecision(current=state.current_kpu, target=4, reason="fallback test"), state)
        assert result.method == "savepoint-resubmit" and backend.job_id != job_id
        assert (await backend.wait_until_running()).current_parallelism == 4
        assert api.job(job_id)["state"] == "FINISHED"  # stop-with-savepoint ends the old job cleanly
        restored = api.call("GET", f"/jobs/{backend.job_id}/checkpoints")["latest"]["restored"]
        assert restored["is_savepoint"] is True and restored["external_path"] in result.detail
    finally:
        load.stop.set()
        load.join(timeout=10)
        for job in api.jobs_overview():
            if job["state"] == "RUNNING":
                api.call("PATCH", f"/jobs/{job['jid']}?mode=cancel")
        print(json.dumps({"test_seconds": round(time.monotonic() - started, 1), "records_sent": load.sent,
                          "lag_ms": lag_series(decisions) if decisions.exists() else []}))
