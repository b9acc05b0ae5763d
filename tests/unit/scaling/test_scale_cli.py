"""`shardline scale`: bad input is a clear error, exit code 2, and no scaling action; simulate prints numbers.

AWS is replaced by botocore Stubbers (every request checked against the service model). Any call the
test did not queue, UpdateApplication above all, fails the test.
"""
import json
import math
import time
from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

import jobs.cli.scale
from jobs.cli import app

APP = "orders-enricher"
ARN = f"arn:aws:kinesisanalytics:us-east-1:123456789012:application/{APP}"
STEP_POLICY = """
policy: step
max_kpu: 8
step: {metric: containerCPUUtilization, evaluation_periods: 3, datapoints_to_alarm: 3}
controller: {lock: {type: none}}
"""
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["scale", *args])


@pytest.fixture
def policy_file(tmp_path):
    def write(text):
        path = tmp_path / "policy.yaml"
        path.write_text(text)
        return str(path)
    return write


@pytest.fixture
def no_aws(monkeypatch):
    calls = []
    monkeypatch.setattr(jobs.cli.scale, "_clients", lambda: calls.append("clients") or {})
    return calls


BAD_POLICIES = [
    ("schedule: {windows: [{start: '0 25 * * *', end: '0 6 * * *', min_kpu: 2}]}", "invalid cron expression"),
    ("min_kpu: 6\nmax_kpu: 2", "min_kpu (6) is above max_kpu (2)"),
    ("policy: step\nstep: {metric: cpuUtilisation}", "unknown metric 'cpuUtilisation'"),
    ("max_kpu: 80", "max_kpu (80) is over the KPU quota (64)"),
    ("max_kpu: 8\nschedule: {windows: [{start: '0 8 * * *', end: '0 18 * * *', min_kpu: 12}]}", "above max_kpu 8"),
    ("policy: target\ntarget: {catch_up: 60}", "unknown key(s) catch_up"),
    ("target: [1, 2", "not valid YAML/JSON"),
]


@pytest.mark.parametrize("text, message", BAD_POLICIES)
@pytest.mark.parametrize("command", ["plan", "run"])
def test_bad_policy_files_exit_2_before_any_client_exists(policy_file, no_aws, text, message, command):
    result = invoke(command, "--app", APP, "--policy", policy_file(text))
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert no_aws == []  # validation failed before a client (let alone a scaling action) existed


@pytest.mark.parametrize("text, message", BAD_POLICIES)
def test_policy_json_validates_before_it_prints(policy_file, text, message):
    result = invoke("policy-json", policy_file(text))
    assert result.exit_code == 2 and message in " ".join(result.output.split())


def test_policy_json_is_what_the_lambda_handlers_parse(policy_file):
    from scaling.spec import parse_spec

    result = invoke("policy-json", policy_file(STEP_POLICY))
    assert result.exit_code == 0, result.output
    spec = parse_spec(json.loads(result.stdout))
    assert spec.policy == "step" and spec.build_policy().decide  # the same policy, rebuilt from the JSON


def test_a_missing_policy_file_is_a_clear_error(no_aws):
    result = invoke("plan", "--app", APP, "--policy", "/nonexistent/policy.yaml")
    assert result.exit_code == 2 and "does not exist" in result.output


def _detail(status="RUNNING", parallelism=2):
    return {"ApplicationDetail": {
        "ApplicationARN": ARN, "ApplicationName": APP, "RuntimeEnvironment": "FLINK-1_20", "ApplicationStatus": status,
        "ApplicationVersionId": 3, "ApplicationConfigurationDescription": {"FlinkApplicationConfigurationDescription": {
            "ParallelismConfigurationDescription": {"ConfigurationType": "CUSTOM", "Parallelism": parallelism,
                                                    "ParallelismPerKPU": 1, "CurrentParallelism": parallelism,
                                                    "AutoScalingEnabled": False}}}}}


def _hot_cpu():
    end = math.floor(time.time() / 60) * 60
    stamps = [datetime.fromtimestamp(end - 60 * i, timezone.utc) for i in range(5, 0, -1)]
    return {"MetricDataResults": [{"Id": "m0", "Label": "cpu", "Timestamps": stamps, "Values": [95.0] * 5,
                                   "StatusCode": "Complete"}]}


@pytest.fixture
def stubs(monkeypatch):
    session = dict(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    kda, cw = boto3.client("kinesisanalyticsv2", **session), boto3.client("cloudwatch", **session)
    stubbers = {"kinesisanalyticsv2": Stubber(kda), "cloudwatch": Stubber(cw)}
    for s in stubbers.values():
        s.activate()
    monkeypatch.setattr(jobs.cli.scale, "_clients", lambda: {"kinesisanalyticsv2": kda, "cloudwatch": cw})
    yield stubbers
    for s in stubbers.values():
        s.assert_no_pending_responses()
        s.deactivate()


def test_missing_describe_permission_names_the_action(policy_file, stubs):
    stubs["kinesisanalyticsv2"].add_client_error("describe_application", "AccessDeniedException", "not authorized", 400)
    result = invoke("run", "--app", APP, "--policy", policy_file(STEP_POLICY), "--cycles", "1")
    assert result.exit_code == 2
    assert "missing permission kinesisanalytics:DescribeApplication" in " ".join(result.output.split())


def test_missing_metrics_permission_names_the_action(policy_file, stubs):
    stubs["kinesisanalyticsv2"].add_response("describe_application", _detail())
    stubs["cloudwatch"].add_client_error("get_metric_data", "AccessDenied", "not authorized", 403)
    result = invoke("plan", "--app", APP, "--policy", policy_file(STEP_POLICY))
    assert result.exit_code == 2 and "cloudwatch:GetMetricData" in result.output


def test_missing_update_permission_is_fatal_and_names_the_application(policy_file, stubs):
    stubs["kinesisanalyticsv2"].add_response("describe_application", _detail())
    stubs["cloudwatch"].add_response("get_metric_data", _hot_cpu())
    stubs["kinesisanalyticsv2"].add_client_error("update_application", "AccessDeniedException", "not authorized", 400)
    result = invoke("run", "--app", APP, "--policy", policy_file(STEP_POLICY), "--cycles", "3")
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "kinesisanalytics:UpdateApplication" in text and ARN in text  # and no second cycle was attempted


def test_dry_run_decides_without_updating(policy_file, stubs, tmp_path):
    stubs["kinesisanalyticsv2"].add_response("describe_application", _detail())
    stubs["cloudwatch"].add_response("get_metric_data", _hot_cpu())
    log = tmp_path / "decisions.jsonl"
    result = invoke("run", "--app", APP, "--policy", policy_file(STEP_POLICY), "--dry-run", "--cycles", "1",
                    "--json", "--decision-log", str(log))
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert (row["action"], row["current"], row["target"]) == ("dry-run", 2, 4)
    replayed = invoke("replay", str(log), "--policy", policy_file(STEP_POLICY), "--json")
    assert replayed.exit_code == 0 and json.loads(replayed.stdout)["matched"] == 1


def test_replay_with_a_changed_policy_exits_1(policy_file, stubs, tmp_path):
    stubs["kinesisanalyticsv2"].add_response("describe_application", _detail())
    stubs["cloudwatch"].add_response("get_metric_data", _hot_cpu())
    log = tmp_path / "decisions.jsonl"
    assert invoke("plan", "--app", APP, "--policy", policy_file(STEP_POLICY), "--decision-log", str(log)).exit_code == 0
    changed = policy_file(STEP_POLICY.replace("datapoints_to_alarm: 3}", "datapoints_to_alarm: 3, scale_out_factor: 1.5}"))
    result = invoke("replay", str(log), "--policy", changed)
    assert result.exit_code == 1 and "logged 4 KPU" in result.output and "now 3 KPU" in result.output


def test_simulate_compares_every_policy(tmp_path):
    result = invoke("simulate", "--trace", "step", "--policy", "all", "--slo-lag", "2m", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["slo_lag_s"] == 120 and set(report["results"]) == {
        "ours", "aws-sample", "builtin", "flink-operator", "ds2", "static-peak", "oracle"}
    assert all({"kpu_hours", "minutes_over_slo", "max_lag_s", "rescales", "downtime_s"} <= set(r)
               for r in report["results"].values())
    table = invoke("simulate", "--trace", "step", "--policy", "all")
    assert table.exit_code == 0 and "flink-operator" in table.output and "x oracle" in table.output


def test_simulate_with_a_measured_rate_per_kpu_sizes_in_proportion():
    def kpu_hours(*extra):
        result = invoke("simulate", "--trace", "step", "--policy", "static-peak", "--json", *extra)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["results"]["static-peak"]["kpu_hours"]
    default, faster = kpu_hours(), kpu_hours("--rate-per-kpu", "2000")
    assert faster < default * 0.6  # twice the records per KPU: about half the KPUs for the same trace
    bad = invoke("simulate", "--trace", "step", "--rate-per-kpu", "0")
    assert bad.exit_code == 2


def test_simulate_a_csv_trace_and_bad_input(tmp_path):
    csv = tmp_path / "mine.csv"
    csv.write_text("t_seconds,records_per_second\n0,1000\n3600,5000\n7200,1000\n")
    result = invoke("simulate", "--trace", str(csv), "--policy", "ours", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["trace"] == "mine"
    for args, message in ((["--trace", "nope"], "unknown trace 'nope'"), (["--trace", "step", "--policy", "best"],
                          "unknown policy 'best'"), (["--trace", "step", "--slo-lag", "soon"], "not a duration")):
        bad = invoke("simulate", *args)
        assert bad.exit_code == 2 and message in " ".join(bad.output.split()), bad.output
    csv.write_text("t_seconds,records_per_second\n0,1000\n0,5000\n")
    bad = invoke("simulate", "--trace", str(csv))
    assert bad.exit_code == 2 and "line 3" in bad.output
