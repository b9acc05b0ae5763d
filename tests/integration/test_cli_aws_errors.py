"""Every command that calls AWS, with no credentials and with a dead endpoint: one line with the fix, exit 2.

No traceback: a failure a user can fix (credentials, an unreachable endpoint) is
one line on stderr saying what to do.
"""
import pytest
from typer.testing import CliRunner

from connectors.local_stack import free_port
from jobs.cli import app

runner = CliRunner()
STEP_POLICY = "policy: step\nmax_kpu: 8\nstep: {metric: containerCPUUtilization}\ncontroller: {lock: {type: none}}\n"
SERVICES = ("KINESIS", "S3", "DYNAMODB", "CLOUDWATCH", "FIREHOSE", "KINESIS_ANALYTICS_V2", "STS")


def commands(tmp_path) -> dict[str, list[str]]:
    recording = tmp_path / "rec.avro"
    (tmp_path / "policy.yaml").write_text(STEP_POLICY)
    recording.write_bytes(b"")
    return {
        "stream create": ["stream", "create", "s1"],
        "produce": ["produce", "--stream", "s1", "--synthetic", "payments", "--count", "1"],
        "consume": ["consume", "--stream", "s1", "--count", "1", "--idle-timeout", "2"],
        "record": ["record", "--stream", "s1", "--out", str(tmp_path / "out.avro"), "--count", "1"],
        "run": ["run", "--stream", "s1", "--sink", str(tmp_path / "out.jsonl"), "--idle-timeout", "2"],
        "dlq summary": ["dlq", "summary", "s3://bucket/dead-letters"],
        "dlq redrive": ["dlq", "redrive", "s3://bucket/dead-letters", "--to", "kinesis:s1"],
        "pii run": ["pii", "run", "--stream", "s1", "--output-s3", "s3://bucket/out",
                    "--dead-letters", str(tmp_path / "d.jsonl"), "--idle-timeout", "2"],
        "scale plan": ["scale", "plan", "--app", "orders", "--policy", str(tmp_path / "policy.yaml")],
        "video publish": ["video", "publish", "--synthetic", "360p30", "--seconds", "1", "--stream", "s1",
                          "--video-id", "v1"],
        "video sink": ["video", "sink", "--stream", "s1", "--out", str(tmp_path / "hls"), "--plan", "cpu",
                       "--dead-letters", str(tmp_path / "v.jsonl"), "--idle-timeout", "2"],
    }


def environment(tmp_path, credentials: bool) -> dict:
    import os

    dead = f"http://127.0.0.1:{free_port()}"
    # Every endpoint variable, also those a local stack of the same test session set (and the global one).
    names = {f"AWS_ENDPOINT_URL_{service}" for service in SERVICES} | {"AWS_ENDPOINT_URL"} | {
        name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")}
    env = {name: dead for name in names}
    env.update({"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none"),
                "AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": None, "AWS_SESSION_TOKEN": None,
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None, "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
                "AWS_WEB_IDENTITY_TOKEN_FILE": None, "AWS_REGION": "us-east-1",
                "SHARDLINE_PII_HMAC_KEY": "5a" * 32, "SHARDLINE_PII_FPE_KEY": "c3" * 16})
    keys = ({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"} if credentials
            else {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None})
    return {**env, **keys}


@pytest.mark.parametrize("credentials, says", [(False, "no AWS credentials were found"), (True, "cannot reach")],
                         ids=["no credentials", "dead endpoint"])
@pytest.mark.parametrize("name", ["stream create", "produce", "consume", "record", "run", "dlq summary",
                                  "dlq redrive", "pii run", "scale plan", "video publish", "video sink"])
def test_every_aws_command_fails_in_one_line_that_says_what_to_do(tmp_path, name, credentials, says):
    result = runner.invoke(app, commands(tmp_path)[name], env=environment(tmp_path, credentials))
    assert result.exit_code == 2, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    message = " ".join(result.output.split())
    assert says in message or (credentials and "cannot reach" in message.lower()), message
    assert "local env" in message or "AWS_ENDPOINT_URL" in message or "local stack" in message, message


@pytest.mark.integration
@pytest.mark.parametrize("args", [["consume", "--stream", "no-such-stream", "--count", "1", "--idle-timeout", "2"],
                                  ["produce", "--stream", "no-such-stream", "--synthetic", "payments", "--count", "1"],
                                  ["dlq", "summary", "s3://no-such-bucket/dead-letters"]],
                         ids=["consume", "produce", "dlq summary"])
def test_what_does_not_exist_is_one_line_too(local_stack, args):
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), (result.output, result.exception)
    assert "no-such" in result.output or "does not exist" in result.output, result.output
