"""The AWS deployment: the CloudFormation template passes cfn-lint, its IAM statements are the published
least-privilege policy, its state machine is well formed, and the Lambda handlers run the policy code."""
import json
import math
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.stub import Stubber

import scaling.deploy.handlers as handlers
from scaling.backends.base import PermissionDenied

DEPLOY = Path(handlers.__file__).parent
TEMPLATE = DEPLOY / "template.yaml"
APP = "orders-enricher"
ARN = f"arn:aws:kinesisanalytics:us-east-1:123456789012:application/{APP}"


class CfnLoader(yaml.SafeLoader):
    """Reads !Ref, !Sub, !GetAtt ... as plain values."""


CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: (
    loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else
    loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else loader.construct_mapping(node)))
TEMPLATE_DOC = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)


def test_template_passes_cfn_lint():
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_handler_role_grants_exactly_the_published_policy():
    published = json.loads((DEPLOY / "iam_policy.json").read_text())["Statement"]
    role = TEMPLATE_DOC["Resources"]["HandlerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    as_sets = lambda statements: {s["Sid"]: sorted([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
                                  for s in statements}
    assert as_sets(role) == {**as_sets(published), "WriteHandlerLogs": ["logs:CreateLogStream", "logs:PutLogEvents"]}
    for statement in published:
        assert all("*" not in a for a in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]))
        # only GetMetricData, which has no resource-level permissions, is on "*"
        assert (statement["Resource"] == "*") == (statement["Sid"] == "ReadScalingSignals")
    assert published[0]["Resource"].endswith(":application/${ApplicationName}")


def test_state_machine_transitions_and_handlers_exist():
    definition = TEMPLATE_DOC["Resources"]["ScalingStateMachine"]["Properties"]["Definition"]
    states = definition["States"]
    targets = {definition["StartAt"]}
    for state in states.values():
        targets |= {state[k] for k in ("Next", "Default") if k in state}
        targets |= {c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])}
    assert targets <= set(states) and set(states) - targets == set()  # no dangling and no unreachable state
    functions = [r for r in TEMPLATE_DOC["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    for function in functions:
        module, name = function["Properties"]["Handler"].rsplit(".", 1)
        assert module == "scaling.deploy.handlers" and callable(getattr(handlers, name))
    assert {"Cooldown", "WaitForRunning", "WaitWhileUpdating"} <= {n for n, s in states.items() if s["Type"] == "Wait"}


# --- the handlers, with Stubbers for AWS ---------------------------------------

POLICY = {"policy": "step", "max_kpu": 8, "step": {"metric": "containerCPUUtilization", "evaluation_periods": 3,
                                                   "datapoints_to_alarm": 3}}


def _detail(status="RUNNING", version=3, parallelism=2):
    return {"ApplicationDetail": {
        "ApplicationARN": ARN, "ApplicationName": APP, "RuntimeEnvironment": "FLINK-1_20", "ApplicationStatus": status,
        "ApplicationVersionId": version, "ApplicationConfigurationDescription": {
            "FlinkApplicationConfigurationDescription": {"ParallelismConfigurationDescription": {
                "ConfigurationType": "CUSTOM", "Parallelism": parallelism, "ParallelismPerKPU": 1,
                "CurrentParallelism": parallelism, "AutoScalingEnabled": True}}}}}


def _hot_cpu():
    end = math.floor(time.time() / 60) * 60
    stamps = [datetime.fromtimestamp(end - 60 * i, timezone.utc) for i in range(5, 0, -1)]
    return {"MetricDataResults": [{"Id": "m0", "Timestamps": stamps, "Values": [95.0] * 5, "StatusCode": "Complete"}]}


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("POLICY", json.dumps(POLICY))
    monkeypatch.setenv("APPLICATION_NAME", APP)
    monkeypatch.delenv("LOCK_TABLE", raising=False)
    session = dict(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    clients = {"kinesisanalyticsv2": boto3.client("kinesisanalyticsv2", **session),
               "cloudwatch": boto3.client("cloudwatch", **session)}
    stubbers = {k: Stubber(c) for k, c in clients.items()}
    for s in stubbers.values():
        s.activate()
    monkeypatch.setattr(handlers, "_clients", lambda: clients)
    yield stubbers
    for s in stubbers.values():
        s.assert_no_pending_responses()


def _update(version, parallelism):
    return {"ApplicationName": APP, "CurrentApplicationVersionId": version, "ApplicationConfigurationUpdate": {
        "FlinkApplicationConfigurationUpdate": {"ParallelismConfigurationUpdate": {
            "ConfigurationTypeUpdate": "CUSTOM", "ParallelismUpdate": parallelism, "ParallelismPerKPUUpdate": 1,
            "AutoScalingEnabledUpdate": False}}}}


def test_one_execution_decide_apply_status_release(aws):
    kda = aws["kinesisanalyticsv2"]
    kda.add_response("describe_application", _detail(version=3))
    aws["cloudwatch"].add_response("get_metric_data", _hot_cpu())
    event = {"execution": "exec-1", "apply": {}}
    decided = json.loads(json.dumps(handlers.decide(event)))  # what Step Functions stores is JSON
    assert (decided["action"], decided["decision"]["target"], decided["version"]) == ("scale", 4, 3)
    # apply sends the version decide saw (3): had the application changed since, the update would be refused
    kda.add_response("update_application", _detail(status="UPDATING", version=4), _update(3, 4))
    applied = json.loads(json.dumps(handlers.apply({**event, "decide": decided})))
    assert applied["started"] is True and applied["parallelism"] == 4
    kda.add_response("describe_application", _detail(status="UPDATING", version=4))
    assert handlers.status({**event, "apply": applied}) == {"status": "UPDATING", "parallelism": 2, "running": False,
                                                             "rolled_back": False, "wait": True}
    kda.add_response("describe_application", _detail(version=4, parallelism=4))
    assert handlers.status({**event, "apply": applied})["running"] is True
    kda.add_response("describe_application", _detail(status="UPDATING", version=4, parallelism=4))
    assert handlers.decide({**event, "apply": applied})["action"] == "wait"
    assert handlers.release(event) == {"released": False}  # no LOCK_TABLE configured


def test_apply_reports_a_conflict_as_data_and_raises_on_missing_permission(aws):
    kda = aws["kinesisanalyticsv2"]
    kda.add_response("describe_application", _detail())
    aws["cloudwatch"].add_response("get_metric_data", _hot_cpu())
    decided = json.loads(json.dumps(handlers.decide({"execution": "e", "apply": {}})))
    kda.add_client_error("update_application", "ConcurrentModificationException", "changed", 400)
    kda.add_response("describe_application", _detail(version=5, parallelism=3))  # someone else rescaled
    assert handlers.apply({"decide": decided})["action"] == "conflict"
    kda.add_client_error("update_application", "AccessDeniedException", "not authorized", 400)
    with pytest.raises(PermissionDenied, match="kinesisanalytics:UpdateApplication on " + ARN):
        handlers.apply({"decide": decided})
