"""Record the Flink REST responses the collector reads, from a real cluster under load, for the unit tests.

    .venv/bin/python tests/e2e/record_flink_rest.py tests/unit/scaling/data/flink_rest_recording.json

Starts the local stack and a standalone cluster, runs the throttled job at parallelism 1 under
300 records/s, and records every GET the FlinkRestCollector makes during three collects 5 s apart.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from connectors.aws import client  # noqa: E402
from connectors.testing import running_local_stack  # noqa: E402
from flink_standalone import JOB_CLASS, StandaloneFlink, build_job_jar  # noqa: E402
from scaling.collectors.flink_rest import FlinkRestCollector, FlinkRestSignalsConfig  # noqa: E402
from scaling.flink_api import FlinkRestClient  # noqa: E402
from test_scaling_flink_rest import Load  # noqa: E402


class RecordingClient(FlinkRestClient):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.calls: list[dict] = []

    def call(self, method, path, body=None, **kw):
        reply = super().call(method, path, body, **kw)
        self.calls.append({"method": method, "path": path, "time": time.time(), "response": reply})
        return reply


def main(out: Path) -> None:
    with running_local_stack() as stack, tempfile.TemporaryDirectory() as tmp:
        env = stack.env()
        stream = f"rec-{uuid.uuid4().hex[:6]}"
        kinesis = client("kinesis")
        kinesis.create_stream(StreamName=stream, ShardCount=2)
        kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        cluster = StandaloneFlink(Path(tmp) / "flink").start()
        try:
            api = RecordingClient(cluster.url)
            jar = api.upload_jar(build_job_jar(Path(tmp) / "job"))
            args = [stream, "200", f"aws.region={env['AWS_REGION']}", f"aws.endpoint={env['AWS_ENDPOINT_URL_KINESIS']}",
                    "aws.cbor.enabled=false", "aws.credentials.provider=BASIC",
                    f"aws.credentials.provider.basic.accesskeyid={env['AWS_ACCESS_KEY_ID']}",
                    f"aws.credentials.provider.basic.secretkey={env['AWS_SECRET_ACCESS_KEY']}"]
            api.run_jar(jar, entry_class=JOB_CLASS, args=args, parallelism=1)
            load = Load(stream)
            load.start()
            time.sleep(20)
            api.calls.clear()
            collector = FlinkRestCollector(FlinkRestSignalsConfig(url=cluster.url, job=f"shardline-throttled-{stream}",
                                                                  period_s=5, startup_grace_s=5), api=api)
            for _ in range(3):
                history = collector.collect_sync(time.time())
                time.sleep(5)
            load.stop.set()
            out.write_text(json.dumps({"job": f"shardline-throttled-{stream}", "calls": api.calls,
                                       "history": history.to_records()}, indent=1) + "\n")
        finally:
            cluster.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
