"""The agent end to end against in-memory Kinesis and Firehose clients: what goes on the wire, checkpoints
only after acknowledgement, dead letters, rewinds after failures."""
import asyncio
import hashlib
import json

import botocore.exceptions
from prometheus_client import CollectorRegistry

from connectors.agent.agent import Agent
from connectors.agent.checkpoints import CheckpointStore
from connectors.agent.config import parse_config
from connectors.dead_letter import read_dead_letters
from connectors.kinesis.aggregation import deaggregate
from connectors.testing import AsyncScriptedFirehose

SHARD = {"ShardId": "shardId-000000000000", "HashKeyRange": {"StartingHashKey": "0",
                                                              "EndingHashKey": str(2 ** 128 - 1)},
         "SequenceNumberRange": {"StartingSequenceNumber": "1"}}


class MemoryKinesis:
    """One shard; keeps (partition key, data, explicit hash key) of every user record; can fail calls."""

    def __init__(self, fail_calls: int = 0) -> None:
        self.stored: list[tuple[str, bytes, str | None]] = []
        self.fail_calls = fail_calls

    async def list_shards(self, **kwargs):
        return {"Shards": [SHARD]}

    async def put_records(self, StreamName, Records):  # noqa: N803
        if self.fail_calls:
            self.fail_calls -= 1
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutRecords")
        for entry in Records:
            for user in deaggregate(entry["Data"], entry["PartitionKey"], entry.get("ExplicitHashKey")):
                self.stored.append((user.partition_key, user.data, user.explicit_hash_key))
        return {"FailedRecordCount": 0, "Records": [{"ShardId": SHARD["ShardId"], "SequenceNumber": "1"}
                                                    for _ in Records]}


def config(tmp_path, **flow):
    return parse_config({"stateDirectory": str(tmp_path / "state"), "flows": [
        {"filePattern": str(tmp_path / "*.log"), "kinesisStream": "s", "initialPosition": "START_OF_FILE", **flow}]})


def run(cfg, **kwargs):
    agent = Agent(cfg, registry=CollectorRegistry(), **kwargs)
    asyncio.run(agent.run(once=True))
    return agent


def test_raw_lines_go_out_as_read_with_the_record_id_as_partition_key(tmp_path):
    (tmp_path / "a.log").write_bytes(b"first\nsecond\n")
    kinesis = MemoryKinesis()
    run(config(tmp_path, kplAggregation=True), kinesis_client=kinesis)
    assert [data for _, data, _ in kinesis.stored] == [b"first\n", b"second\n"]
    keys = [key for key, _, _ in kinesis.stored]
    assert keys[0].endswith(":0") and keys[1].endswith(":6") and keys[0].split(":")[0] == keys[1].split(":")[0]
    rows = CheckpointStore(tmp_path / "state" / "checkpoints.sqlite").load(0)
    assert [row.offset for row in rows] == [13]
    # A second run sends nothing again.
    run(config(tmp_path, kplAggregation=True), kinesis_client=kinesis)
    assert len(kinesis.stored) == 2


def test_deterministic_routes_like_kinesis_agent_and_field_routes_by_the_field(tmp_path):
    (tmp_path / "a.log").write_bytes(b'{"user":"u1"}\n')
    kinesis = MemoryKinesis()
    run(config(tmp_path, partitionKeyOption="DETERMINISTIC"), kinesis_client=kinesis)
    (_, data, ehk), = kinesis.stored
    kinesis_agent_key = hashlib.md5(data).hexdigest()
    assert int(ehk) == int(hashlib.md5(kinesis_agent_key.encode()).hexdigest(), 16)

    other = tmp_path / "other"
    other.mkdir()
    (other / "b.log").write_bytes(b'{"user":"u1"}\n{"nouser":1}\n')
    kinesis = MemoryKinesis()
    run(config(other, partitionKeyOption="FIELD", partitionKeyField="user"), kinesis_client=kinesis)
    (_, _, ehk), = kinesis.stored
    assert int(ehk) == int(hashlib.md5(b"u1").hexdigest(), 16)
    letters = list(read_dead_letters(other / "state" / "dead-letters.dlq.jsonl"))
    assert len(letters) == 1 and "partitionKeyField" in letters[0].reason and letters[0].data == b'{"nouser":1}\n'


def test_lines_a_converter_refuses_are_dead_lettered_and_the_rest_converted(tmp_path):
    (tmp_path / "a.log").write_bytes(b"1,alice\nnot syslog at all\n")
    kinesis = MemoryKinesis()
    run(config(tmp_path, dataProcessingOptions=[{"optionName": "LOGTOJSON", "logFormat": "SYSLOG"}]),
        kinesis_client=kinesis)
    assert kinesis.stored == []
    letters = list(read_dead_letters(tmp_path / "state" / "dead-letters.dlq.jsonl"))
    assert [letter.error_type for letter in letters] == ["Unprocessable", "Unprocessable"]
    assert all("alice" not in letter.reason for letter in letters)

    csv = tmp_path / "csv"
    csv.mkdir()
    (csv / "a.log").write_bytes(b"1,alice\n")
    run(config(csv, dataProcessingOptions=[{"optionName": "CSVTOJSON", "customFieldNames": ["id", "name"]}]),
        kinesis_client=kinesis)
    assert kinesis.stored[0][1] == b'{"id":"1","name":"alice"}\n'


def test_a_failed_delivery_writes_no_checkpoint_and_the_flow_rewinds(tmp_path):
    (tmp_path / "a.log").write_bytes(b"one\ntwo\n")
    kinesis = MemoryKinesis(fail_calls=1)
    cfg = config(tmp_path, retryInitialBackoffMillis=1, retryMaxBackoffMillis=2)
    agent = run(cfg, kinesis_client=kinesis)
    assert [data for _, data, _ in kinesis.stored] == [b"one\n", b"two\n"]
    assert agent.registry.get_sample_value("shardline_agent_rewinds_total", {"flow": "0"}) == 1


def test_firehose_flow_with_aggregated_records(tmp_path):
    (tmp_path / "a.log").write_bytes(b"aaaa\nbbbb\ncccc\n")
    firehose = AsyncScriptedFirehose({1})  # the first call refuses its second record once
    cfg = parse_config({"stateDirectory": str(tmp_path / "state"), "flows": [
        {"filePattern": str(tmp_path / "*.log"), "deliveryStream": "d", "initialPosition": "START_OF_FILE",
         "aggregatedRecordSizeBytes": 10, "retryInitialBackoffMillis": 1}]})
    run(cfg, firehose_client=firehose)
    assert sorted(firehose.delivered) == [b"aaaa\nbbbb\n", b"cccc\n"]


def test_metrics_names(tmp_path):
    (tmp_path / "a.log").write_bytes(b"x\n")
    registry = CollectorRegistry()
    agent = Agent(config(tmp_path), registry=registry, kinesis_client=MemoryKinesis())
    asyncio.run(agent.run(once=True))
    names = {metric.name for metric in registry.collect()}
    assert {"shardline_agent_records", "shardline_agent_checkpoints", "shardline_agent_tracked_files"} <= names
    assert registry.get_sample_value("shardline_agent_records_total", {"flow": "0"}) == 1
    assert json.dumps([m.samples for m in registry.collect()], default=str).count(str(tmp_path)) == 0


def test_once_ends_even_when_a_file_is_still_empty(tmp_path):
    (tmp_path / "a.log").touch()
    kinesis = MemoryKinesis()
    run(config(tmp_path), kinesis_client=kinesis)  # returns: an empty file has nothing to wait for
    assert kinesis.stored == []
