"""The autoscaler's Lambda zip runs where Lambda runs it: only the zip and the runtime's boto3 on the path.

The zip is built, unpacked, and its handlers are imported by an isolated interpreter (``-I -S``:
no site-packages) whose path holds the zip's root and the boto3 distribution tree, as the
python3.12 Lambda runtime provides.  They then talk to moto server: ``decide`` describes a real
Managed Flink application (moto leaves it STARTING, so the machine waits), and the policy code
reads CloudWatch and decides to scale on a hot CPU.
"""
import importlib.metadata
import json
import math
import subprocess
import sys
import textwrap
import time
import uuid
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from connectors.aws import client
from jobs.packaging.flink import dependency_closure, installed_files
from jobs.packaging.lambda_zip import build_lambda_zip

pytestmark = pytest.mark.integration

POLICY = {"policy": "step", "max_kpu": 8, "step": {"metric": "containerCPUUtilization", "evaluation_periods": 3,
                                                   "datapoints_to_alarm": 3}}

PROBE = textwrap.dedent("""
    import json, sys
    sys.path[:0] = sys.argv[1:3]
    import importlib.util
    assert importlib.util.find_spec("numpy") is None and importlib.util.find_spec("typer") is None, "not isolated"
    from scaling.deploy import handlers
    import croniter, yaml
    from scaling.decision import RUNNING, AppState
    from scaling.wiring import build_collector
    from pipelines.clock import SYSTEM_CLOCK
    decided = handlers.decide({"execution": "probe", "apply": {}})
    status = handlers.status({})
    spec = handlers._spec()
    now = SYSTEM_CLOCK.time()
    history = __import__("asyncio").run(build_collector(spec, "%(app)s").collect(now))
    state = AppState(current_kpu=2, status=RUNNING)
    decision = spec.build_policy().decide(state, history, now)
    print(json.dumps({"decided": decided, "status": status, "target": decision.target,
                      "loaded_from": [croniter.__file__, yaml.__file__, handlers.__file__]}))
""")


def runtime_site(into: Path) -> Path:
    """A directory holding what every Lambda Python runtime has: boto3 and its dependencies."""
    into.mkdir()
    for name in dependency_closure(["boto3"]):
        distribution = importlib.metadata.distribution(name)
        for top in {relative.split("/")[0] for relative, _ in installed_files(name)}:
            if not (into / top).exists():
                (into / top).symlink_to(Path(distribution.locate_file(top)))
    return into


def test_the_zip_decides_with_only_the_runtime_boto3_beside_it(local_stack, tmp_path):
    app = f"scaled-{uuid.uuid4().hex[:8]}"
    client("kinesisanalyticsv2").create_application(
        ApplicationName=app, RuntimeEnvironment="FLINK-1_20",
        ServiceExecutionRole="arn:aws:iam::123456789012:role/flink-app",
        ApplicationConfiguration={"FlinkApplicationConfiguration": {"ParallelismConfiguration": {
            "ConfigurationType": "CUSTOM", "Parallelism": 2, "ParallelismPerKPU": 1, "AutoScalingEnabled": False}}})
    cw = client("cloudwatch")
    end = math.floor(time.time() / 60) * 60
    for i in range(5, 0, -1):
        cw.put_metric_data(Namespace="AWS/KinesisAnalytics", MetricData=[{
            "MetricName": "containerCPUUtilization", "Dimensions": [{"Name": "Application", "Value": app}],
            "Timestamp": datetime.fromtimestamp(end - 60 * i + 5, timezone.utc), "Value": 95.0}])

    package = build_lambda_zip(tmp_path / "scaler.zip")
    code = tmp_path / "task"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(code)
    site = runtime_site(tmp_path / "runtime")
    env = {**local_stack.env(), "POLICY": json.dumps(POLICY), "APPLICATION_NAME": app, "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-I", "-S", "-c", PROBE % {"app": app}, str(code), str(site)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["decided"]["action"] == "wait" and out["decided"]["status"] == "STARTING"
    assert out["status"]["wait"] is True and out["status"]["running"] is False
    assert out["target"] == 4  # 95% CPU for 3 of 3 periods: step doubles 2 KPUs
    assert all(path.startswith(str(code)) for path in out["loaded_from"])
