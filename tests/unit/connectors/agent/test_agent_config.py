"""agent.json: Kinesis Agent's files are read as they are; mistakes name the key's path."""
import json
from pathlib import Path

import pytest

from connectors.agent.config import AgentConfig, default_state_directory, load_config, parse_config


def flow(**extra):
    return {"filePattern": "/tmp/app.log*", "kinesisStream": "s", **extra}


def test_kinesis_agents_sample_config_works_unchanged(tmp_path):
    # The file Kinesis Agent's installer writes, plus the keys its docs list.
    raw = {
        "cloudwatch.emitMetrics": True, "kinesis.endpoint": "", "firehose.endpoint": "firehose.eu-west-1.amazonaws.com",
        "checkpointFile": str(tmp_path / "cp"), "awsAccessKeyId": "AK", "awsSecretAccessKey": "SK",
        "flows": [
            {"filePattern": "/tmp/app.log*", "kinesisStream": "yourkinesisstream", "partitionKeyOption": "RANDOM"},
            {"filePattern": "/tmp/app.log*", "deliveryStream": "yourdeliverystream", "maxBufferAgeMillis": 5000,
             "initialPosition": "START_OF_FILE", "dataProcessingOptions": [
                 {"optionName": "LOGTOJSON", "logFormat": "COMBINEDAPACHELOG"},
                 {"optionName": "ADDMETADATA", "timestamp": "true", "metadata": {"host": "h1"}}]},
        ],
    }
    path = tmp_path / "agent.json"
    path.write_text(json.dumps(raw))
    config = load_config(path)
    assert isinstance(config, AgentConfig)
    first, second = config.flows
    assert first.kinesis_stream == "yourkinesisstream" and first.initial_position == "END_OF_FILE"
    assert second.delivery_stream == "yourdeliverystream" and second.max_buffer_age_s == 5.0
    assert [o.name for o in second.processing] == ["LOGTOJSON", "ADDMETADATA"]
    assert second.processing[1].timestamp is True
    assert config.kinesis_endpoint is None  # "" means "the default", as in Kinesis Agent
    assert config.firehose_endpoint == "https://firehose.eu-west-1.amazonaws.com"
    assert config.checkpoint_path == tmp_path / "cp"
    assert "SK" not in repr(config)


def test_defaults_live_in_the_dataclass_and_state_is_not_in_var_run(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    config = parse_config({"flows": [flow()]})
    only = config.flows[0]
    assert (only.max_buffer_records, only.max_buffer_age_s, only.truncated_record_terminator) == (500, 60.0, b"\n")
    assert config.state_directory == tmp_path / "shardline" / "agent" == default_state_directory()
    assert config.checkpoint_path.parent == config.state_directory
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_state_directory() == Path.home() / ".local" / "state" / "shardline" / "agent"


@pytest.mark.parametrize("raw, path", [
    ({"flows": [flow()], "checkpointFlie": "x"}, "checkpointFlie: unknown key (did you mean 'checkpointFile'?)"),
    ({"flows": [flow(), flow(initalPosition="START_OF_FILE")]}, "flows[1].initalPosition: unknown key"),
    ({"flows": [flow(initialPosition="BEGINNING")]}, "flows[0].initialPosition: 'BEGINNING' is not one of"),
    ({"flows": [flow(maxBufferSizeRecords=501)]}, "flows[0].maxBufferSizeRecords: 501 is out of range"),
    ({"flows": [flow(maxBufferAgeMillis=10)]}, "flows[0].maxBufferAgeMillis: 10 is out of range"),
    ({"flows": [flow(skipHeaderLines="two")]}, "flows[0].skipHeaderLines: must be an integer"),
    ({"flows": [flow(multiLineStartPattern="([")]}, "flows[0].multiLineStartPattern: not a valid regular"),
    ({"flows": [flow(deliveryStream="d")]}, "flows[0]: give exactly one of kinesisStream and deliveryStream"),
    ({"flows": [flow(), flow(dataProcessingOptions=[{"optionName": "SINGLELINE"}, {"optionName": "TOJSON"}])]},
     "flows[1].dataProcessingOptions[1].optionName: 'TOJSON' is not one of"),
    ({"flows": [flow(dataProcessingOptions=[{"optionName": "CSVTOJSON"}])]},
     "flows[0].dataProcessingOptions[0].customFieldNames: required for CSVTOJSON"),
    ({"flows": [flow(dataProcessingOptions=[{"optionName": "LOGTOJSON", "logFormat": "NGINX"}])]},
     "flows[0].dataProcessingOptions[0].logFormat: 'NGINX' is not one of"),
    ({"flows": [flow(dataProcessingOptions=[{"optionName": "LOGTOJSON", "logFormat": "SYSLOG",
                                             "matchPattern": "(a)(b)", "customFieldNames": ["a"]}])]},
     "flows[0].dataProcessingOptions[0].customFieldNames: 1 names for 2 groups"),
    ({"flows": [flow(dataProcessingOptions=[{"optionName": "SINGLELINE", "delimiter": ","}])]},
     "flows[0].dataProcessingOptions[0].delimiter: unknown key for SINGLELINE"),
    ({"flows": [flow(partitionKeyOption="FIELD")]}, "flows[0].partitionKeyField: required"),
    ({"flows": [flow(aggregatedRecordSizeBytes=5000)]}, "flows[0].aggregatedRecordSizeBytes: applies to"),
    ({"flows": []}, "flows: at least one flow"),
    ({}, "flows: required"),
    ({"flows": [flow(), flow()]}, "flows[1]: duplicate of flows[0]"),
])
def test_mistakes_name_the_key_path(raw, path):
    with pytest.raises(ValueError) as info:
        parse_config(raw)
    assert str(info.value).startswith(path)


def test_bad_json_says_where(tmp_path):
    path = tmp_path / "agent.json"
    path.write_text('{"flows": [}')
    with pytest.raises(ValueError, match="line 1, column 12"):
        load_config(path)


def test_our_extensions():
    config = parse_config({"stateDirectory": "/data/agent", "flows": [
        flow(partitionKeyOption="FIELD", partitionKeyField="user", kplAggregation=True)]})
    assert config.state_directory == Path("/data/agent")
    assert config.flows[0].partition_key_field == "user" and config.flows[0].kpl_aggregation
