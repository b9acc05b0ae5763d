"""Flink-side configuration: runtime properties files, AWS keys for the Java connector, job settings, jars."""
from __future__ import annotations

import json
import os
import time

import pytest

from connectors.flink import (FlinkConfig, FlinkSetupError, application_properties, connector_jar_path,
                              connector_jars)
from connectors.testing import patched_environ
from jobs.flink.pipeline_job import PipelineJobConfig

GROUPS = [
    {"PropertyGroupId": "kinesis.analytics.flink.run.options", "PropertyMap": {"python": "main.py"}},
    {"PropertyGroupId": "shardline", "PropertyMap": {"input.stream": "in", "parallelism": 2}},
]


def test_properties_are_read_from_the_path_given(tmp_path):
    path = tmp_path / "props.json"
    path.write_text(json.dumps(GROUPS))
    assert application_properties(path) == {
        "kinesis.analytics.flink.run.options": {"python": "main.py"},
        "shardline": {"input.stream": "in", "parallelism": "2"},  # values are strings, as on the service
    }


def test_properties_come_from_the_environment_variable_when_no_path_is_given(tmp_path):
    path = tmp_path / "props.json"
    path.write_text(json.dumps({"PropertyGroups": GROUPS}))  # CreateApplication's shape is accepted too
    with patched_environ({"SHARDLINE_APPLICATION_PROPERTIES": str(path)}):
        assert application_properties()["shardline"]["input.stream"] == "in"


def test_no_properties_anywhere_gives_no_groups(monkeypatch):
    monkeypatch.delenv("SHARDLINE_APPLICATION_PROPERTIES", raising=False)
    monkeypatch.setattr("connectors.flink.MANAGED_FLINK_PROPERTIES", type("P", (), {"exists": lambda self: False})())
    assert application_properties() == {}


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"a": 1}', "expected a list of property groups"),
    ('[{"PropertyMap": {}}]', "property group #0"),
])
def test_bad_properties_files_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "props.json"
    path.write_text(content)
    with pytest.raises(FlinkSetupError, match=message):
        application_properties(path)
    with pytest.raises(FlinkSetupError, match="does not exist"):
        application_properties(tmp_path / "missing.json")


def test_endpoint_override_passes_the_local_keys_and_keeps_cbor_as_on_aws():
    config = FlinkConfig(region="eu-west-1", kinesis_endpoint="http://127.0.0.1:4567",
                         access_key_id="local", secret_access_key="secret", kinesis_cbor=True)
    assert config.aws_properties() == {
        "aws.region": "eu-west-1", "aws.endpoint": "http://127.0.0.1:4567",
        "aws.credentials.provider": "BASIC", "aws.credentials.provider.basic.accesskeyid": "local",
        "aws.credentials.provider.basic.secretkey": "secret"}


def test_cbor_is_turned_off_for_an_emulator_that_speaks_only_json():
    with patched_environ({"SHARDLINE_KINESIS_CBOR": "false"}):
        config = FlinkConfig(region="eu-west-1", kinesis_endpoint="http://127.0.0.1:4567")
    assert config.aws_properties()["aws.cbor.enabled"] == "false"
    with patched_environ({"SHARDLINE_KINESIS_CBOR": ""}):
        assert "aws.cbor.enabled" not in FlinkConfig(kinesis_endpoint="http://127.0.0.1:4567").aws_properties()


def test_without_endpoint_the_sdk_default_chain_is_used_and_no_keys_leave_python():
    config = FlinkConfig(region=None, kinesis_endpoint=None, access_key_id="AKIA", secret_access_key="s",
                         kinesis_cbor=True)
    assert config.aws_properties() == {"aws.region": "us-east-1"}


def test_flink_config_reads_the_environment_when_built():
    with patched_environ({"AWS_ENDPOINT_URL_KINESIS": "http://127.0.0.1:9", "AWS_REGION": "ap-south-1"}):
        config = FlinkConfig()
    assert (config.kinesis_endpoint, config.region) == ("http://127.0.0.1:9", "ap-south-1")


def test_job_config_parses_typed_values_and_defaults_dead_letters_next_to_the_output():
    job = PipelineJobConfig.from_properties({
        "input.stream": "in", "output.s3": "s3://bucket/records", "source.bounded": "true",
        "parallelism": "4", "s3.batch.max-age-s": "2.5"})
    assert (job.source_bounded, job.parallelism, job.s3_batch_max_age_s) == (True, 4, 2.5)
    assert job.dead_letter_s3_url == "s3://bucket/dead-letters"
    # A dead-letter stream keeps S3 for the letters too large for it: dead_letter.s3, or beside output.s3.
    assert PipelineJobConfig.from_properties({"input.stream": "in", "output.s3": "s3://bucket/records",
                                              "dead_letter.stream": "dlq"}).dead_letter_s3_url == \
        "s3://bucket/dead-letters"
    assert job.dead_letter_mask is None
    assert PipelineJobConfig.from_properties(
        {"input.stream": "in", "output.s3": "s3://b/x", "dead_letter.mask": "pipelines.pii.dead_letters:mask_dead_letter"}
    ).dead_letter_mask == "pipelines.pii.dead_letters:mask_dead_letter"


@pytest.mark.parametrize("properties, message", [
    ({"output.stream": "out"}, "input.stream is required"),
    ({"input.stream": "in", "output.stream": "out"}, "dead_letter.s3 or dead_letter.stream"),
    ({"input.stream": "in"}, "output.stream, output.s3 or output.firehose"),
    ({"input.stream": "in", "output.firehose": "search", "dead_letter.stream": "dlq", "dead_letter.s3": "s3://b/d",
      "output.firehose.index": "Payments"}, "may not contain 'P'"),
    ({"input.stream": "in", "output.stream": "out", "dead_letter.stream": "dlq"},
     "dead_letter.stream needs dead_letter.s3 too"),
    ({"input.stream": "in", "output.s3": "bucket/x"}, "s3://bucket/prefix"),
    ({"input.stream": "in", "output.s3": "s3://b/x", "source.bounded": "yes"}, "source.bounded"),
    ({"input.stream": "in", "output.s3": "s3://b/x", "outptu.stream": "typo"}, "unknown keys"),
])
def test_job_config_errors_name_the_property(properties, message):
    with pytest.raises(ValueError, match=message):
        PipelineJobConfig.from_properties(properties)


def test_connector_jars_use_a_fresh_built_jar_and_add_the_official_one(tmp_path):
    ours = connector_jar_path(tmp_path)
    ours.write_bytes(b"jar")
    future = time.time() + 3600
    os.utime(ours, (future, future))  # newer than the Java sources: no Maven run
    config = FlinkConfig(jar_dir=tmp_path)
    assert connector_jars(config) == [ours]
    official = tmp_path / "flink-sql-connector-aws-kinesis-streams-6.0.0-2.0.jar"
    official.write_bytes(b"jar")
    assert connector_jars(config) == [ours, official]


MANAGED_DISALLOWED = ("parallelism.default", "execution.checkpointing", "python.fn-execution", "state.",
                      "pipeline.jars", "python.executable", "python.client.executable")


def test_on_managed_flink_the_job_sets_no_key_off_the_services_allowed_list():
    from connectors.flink import MANAGED_ALLOWED_KEYS, environment_settings

    config = FlinkConfig(managed=True, parallelism=4, checkpoint_interval_ms=5000,
                         extra={"python.fn-execution.bundle.time": "100", "python.execution-mode": "thread"})
    settings = environment_settings(config)
    assert set(settings) <= MANAGED_ALLOWED_KEYS
    assert not [key for key in settings for bad in MANAGED_DISALLOWED if key.startswith(bad)]
    assert settings == {"python.execution-mode": "thread"}


def test_locally_the_job_sets_parallelism_checkpointing_and_the_interpreter(tmp_path):
    from connectors.flink import environment_settings

    settings = environment_settings(FlinkConfig(managed=False, parallelism=2, checkpoint_interval_ms=5000,
                                                checkpoint_dir=tmp_path, extra={"python.fn-execution.bundle.time": "9"}))
    assert settings["parallelism.default"] == "2" and settings["execution.checkpointing.interval"] == "5000 ms"
    assert settings["execution.checkpointing.dir"] == tmp_path.resolve().as_uri()
    assert settings["python.fn-execution.bundle.time"] == "9" and settings["python.executable"]


def test_a_local_job_serves_flink_rest_on_the_port_asked_for_and_a_managed_one_never():
    from connectors.flink import environment_settings

    with patched_environ({"SHARDLINE_FLINK_REST_PORT": "18123"}):
        local, managed = FlinkConfig(managed=False), FlinkConfig(managed=True)
    assert environment_settings(local)["rest.bind-port"] == "18123"
    assert environment_settings(local)["metrics.fetcher.update-interval"] == "1 s"
    assert "rest.bind-port" not in environment_settings(managed)
    with patched_environ({"SHARDLINE_FLINK_REST_PORT": ""}):
        assert "rest.bind-port" not in environment_settings(FlinkConfig(managed=False))
