"""connectors.kcl without the daemon: properties, command line, and the record processor's protocol handling.

The processor is driven with amazon-kclpy's own message classes and its real
``KCLProcess`` loop over in-memory stdin/stdout; only the daemon is absent.
"""
import base64
import io
import json
import random
import sys

import pytest
from amazon_kclpy import kcl, messages
from prometheus_client import CollectorRegistry

from connectors.dead_letter import DeadLetter
from connectors.kcl import KclConfig, KclError, daemon_command, daemon_environment, python_processor, write_properties
from connectors.kinesis.batches import ConsumedRecord
from connectors.kcl.processor import PipelineRecordProcessor, ProcessorConfig
from connectors.sinks.types import SinkBackpressureError
from connectors.testing import patched_environ
from jobs.kcl.consume_to_file import AppendJsonLines, describe
from pipelines.clock import FakeClock

LOCAL = {"AWS_ENDPOINT_URL_KINESIS": "http://127.0.0.1:4567", "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:5000",
         "AWS_REGION": "eu-west-1"}
REAL = {"AWS_ENDPOINT_URL_KINESIS": "", "AWS_ENDPOINT_URL_DYNAMODB": "", "AWS_REGION": "us-west-2"}


def config(**overrides) -> KclConfig:
    fields = {"executable": python_processor("jobs.kcl.consume_to_file"), **overrides}
    return KclConfig(stream_name="orders", application_name="orders-app", **fields)


def read_properties(path) -> dict[str, str]:
    pairs = (line.split(" = ", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))
    return {key: value for key, value in pairs}


# -- daemon side ---------------------------------------------------------------------------------

def test_properties_use_the_kcl_3_names_and_the_local_endpoints(tmp_path):
    with patched_environ(LOCAL):
        cfg = config(worker_id="w1", max_leases_per_worker=3, failover_time_ms=3000)
    props = read_properties(write_properties(cfg, tmp_path / "app.properties"))
    assert props["executableName"] == f"{sys.executable} -m jobs.kcl.consume_to_file"
    assert props["streamName"] == "orders" and props["applicationName"] == "orders-app"
    assert props["kinesisEndpoint"] == "http://127.0.0.1:4567"
    assert props["dynamoDBEndpoint"] == "http://127.0.0.1:5000"
    assert props["regionName"] == "eu-west-1"
    assert props["metricsLevel"] == "NONE"             # no CloudWatch locally
    assert props["retrievalMode"] == "POLLING"
    assert props["initialPositionInStream"] == "TRIM_HORIZON"
    assert props["AwsCredentialsProvider"] == "DefaultCredentialsProvider"
    assert props["workerId"] == "w1" and props["maxLeasesForWorker"] == "3"
    assert props["failoverTimeMillis"] == "3000"
    assert props["shutdownGraceMillis"] == "10000"     # the KCL's default (0) skips the final checkpoint
    assert "leaseAssignmentIntervalMillis" not in props


def test_without_endpoint_overrides_it_targets_real_aws(tmp_path):
    with patched_environ(REAL):
        cfg = config()
    props = read_properties(write_properties(cfg, tmp_path / "app.properties"))
    assert "kinesisEndpoint" not in props and "dynamoDBEndpoint" not in props
    assert props["metricsLevel"] == "DETAILED" and props["regionName"] == "us-west-2"
    command = daemon_command(tmp_path / "app.properties", cfg)
    assert "-Daws.cborEnabled=false" not in command
    assert "CBOR_ENABLED" not in daemon_environment(cfg, base={})


def test_daemon_command_runs_the_multilang_daemon_with_cbor_off_for_emulators(tmp_path):
    with patched_environ(LOCAL):
        cfg = config(worker_id="w9")
    command = daemon_command(tmp_path / "app.properties", cfg, log_configuration=tmp_path / "logback.xml")
    assert "-Daws.cborEnabled=false" in command
    main = command.index("software.amazon.kinesis.multilang.MultiLangDaemon")
    classpath = command[command.index("-cp") + 1]
    assert "amazon_kclpy/jars/*" in classpath and command.index("-cp") < main
    assert command[main + 1:main + 3] == ["--properties-file", str((tmp_path / "app.properties").resolve())]
    assert command[-2:] == ["--log-configuration", str((tmp_path / "logback.xml").resolve())]
    env = daemon_environment(cfg, base={"PATH": "/bin"})
    assert env["CBOR_ENABLED"] == "false"
    assert env["SHARDLINE_KCL_WORKER_ID"] == "w9" and env["SHARDLINE_KCL_STREAM"] == "orders"


@pytest.mark.parametrize("overrides, message", [
    ({"initial_position_in_stream": "AT_SOMETIME"}, "initial_position_in_stream"),
    ({"retrieval_mode": "PUSH"}, "retrieval_mode"),
    ({"metrics_level": "LOUD"}, "metrics_level"),
    ({"executable": ("/opt/my tools/python", "proc.py")}, "splits executableName on spaces"),
    ({"executable": ()}, "executable is empty"),
    ({"idle_time_between_reads_ms": 50}, "at least 200"),
])
def test_bad_config_says_what_to_change(overrides, message):
    with pytest.raises(KclError, match=message):
        config(**overrides)


def test_extra_properties_win(tmp_path):
    with patched_environ(LOCAL):
        cfg = config(extra_properties={"metricsLevel": "SUMMARY", "maxRecords": "500"})
    props = read_properties(write_properties(cfg, tmp_path / "p.properties"))
    assert props["metricsLevel"] == "SUMMARY" and props["maxRecords"] == "500"


# -- processor side ------------------------------------------------------------------------------

def kcl_record(seq: str, data: bytes, key: str = "k", sub: int = 0) -> dict:
    return {"action": "record", "data": base64.b64encode(data).decode(), "partitionKey": key,
            "sequenceNumber": seq, "subSequenceNumber": sub, "approximateArrivalTimestamp": 1_700_000_000_123}


def process_input(*records: dict) -> messages.ProcessRecordsInput:
    return messages.ProcessRecordsInput({"action": "processRecords", "millisBehindLatest": 0,
                                         "records": [messages.Record(r) for r in records]})


class Journal:
    """A sink, dead-letter store and checkpointer that write what happened, in order, to one list."""

    def __init__(self, checkpoint_errors=(), add_errors=()) -> None:
        self.events: list = []
        self.checkpoint_errors = list(checkpoint_errors)
        self.add_errors = list(add_errors)

    async def add(self, item) -> None:
        if self.add_errors:
            raise self.add_errors.pop(0)
        self.events.append(("add", item))

    async def flush(self) -> None:
        self.events.append(("flush",))

    async def close(self) -> None:
        self.events.append(("close",))

    async def put(self, letter: DeadLetter) -> None:
        self.events.append(("dead_letter", letter))

    def checkpoint(self, sequence_number=None, sub_sequence_number=None) -> None:
        self.events.append(("checkpoint",))
        if self.checkpoint_errors:
            self.events.append(("refused", self.checkpoint_errors[0]))
            raise kcl.CheckpointError(self.checkpoint_errors.pop(0))

    def kinds(self) -> list[str]:
        return [event[0] for event in self.events]


def processor(journal: Journal, pipeline=None, *, dead_letters=True, clock=None, registry=None,
              **config) -> PipelineRecordProcessor:
    proc = PipelineRecordProcessor(pipeline or (lambda record: [record]), journal,
                                   dead_letters=journal if dead_letters else None, config=ProcessorConfig(**config),
                                   clock=clock or FakeClock(), registry=registry or CollectorRegistry(),
                                   rng=random.Random(1), stream_name="orders")
    proc.initialize(messages.InitializeInput({"action": "initialize", "shardId": "shardId-000000000007",
                                              "sequenceNumber": None, "subSequenceNumber": 0}))
    return proc


def run_batch(proc: PipelineRecordProcessor, journal: Journal, *records: dict) -> None:
    batch = process_input(*records)
    batch.dispatch(journal, proc)   # the kclpy dispatcher hands the checkpointer over, as KCLProcess does


def test_outputs_are_flushed_before_the_checkpoint():
    journal = Journal()
    proc = processor(journal)
    run_batch(proc, journal, kcl_record("101", b"one", "k1"), kcl_record("102", b"two", "k2", sub=3))
    assert journal.kinds() == ["add", "add", "flush", "checkpoint"]
    first, second = journal.events[0][1], journal.events[1][1]
    assert (first.data, first.partition_key, first.shard_id, first.sequence_number) == \
           (b"one", "k1", "shardId-000000000007", "101")
    assert second.sub_sequence_number == 3 and second.arrival_time == pytest.approx(1_700_000_000.123)


def test_data_that_looks_aggregated_is_not_decoded_again():
    # The daemon de-aggregates; a user record starting with the KPL magic bytes is just data.
    journal = Journal()
    proc = processor(journal)
    payload = b"\xf3\x89\x9a\xc2not-an-aggregate"
    run_batch(proc, journal, kcl_record("1", payload))
    assert [event[1].data for event in journal.events if event[0] == "add"] == [payload]


def test_throttled_checkpoints_are_retried_with_backoff():
    journal = Journal(checkpoint_errors=["ThrottlingException", "KinesisClientLibDependencyException"])
    clock, registry = FakeClock(), CollectorRegistry()
    proc = processor(journal, clock=clock, registry=registry)
    run_batch(proc, journal, kcl_record("1", b"x"))
    assert journal.kinds().count("checkpoint") == 3
    assert len(clock.slept) == 2 and all(0 <= s <= ProcessorConfig().backoff_cap_s for s in clock.slept)
    assert registry.get_sample_value("shardline_kcl_checkpoints_total", {"outcome": "retried"}) == 2
    assert registry.get_sample_value("shardline_kcl_checkpoints_total", {"outcome": "ok"}) == 1
    assert registry.get_sample_value("shardline_kcl_records_total", {"outcome": "processed"}) == 1


def test_persistent_throttling_gives_up_without_stopping_the_worker():
    journal = Journal(checkpoint_errors=["ThrottlingException"] * 3)
    proc = processor(journal, checkpoint_attempts=3)
    run_batch(proc, journal, kcl_record("1", b"x"))
    run_batch(proc, journal, kcl_record("2", b"y"))   # the next batch checkpoints both
    assert journal.kinds()[-2:] == ["flush", "checkpoint"]
    assert journal.kinds().count("refused") == 3


def test_shutdown_exception_stops_checkpointing():
    journal = Journal(checkpoint_errors=["ShutdownException"])
    proc = processor(journal)
    run_batch(proc, journal, kcl_record("1", b"x"))
    run_batch(proc, journal, kcl_record("2", b"y"))
    assert journal.kinds().count("checkpoint") == 1
    assert journal.kinds()[-1] == "flush"


def test_invalid_state_stops_the_worker():
    journal = Journal(checkpoint_errors=["InvalidStateException"])
    proc = processor(journal)
    with pytest.raises(SystemExit):
        run_batch(proc, journal, kcl_record("1", b"x"))


def test_a_record_the_pipeline_rejects_is_dead_lettered_with_its_position():
    def pipeline(record):
        if record.data == b"bad":
            raise ValueError(f"cannot parse {record.data!r}")   # quotes the record: must not reach the letter
        return [record.data]
    journal = Journal()
    proc = processor(journal, pipeline)
    run_batch(proc, journal, kcl_record("1", b"ok"), kcl_record("2", b"bad", sub=4), kcl_record("3", b"ok2"))
    # The letter is made durable (the journal doubles as the dead-letter store) before the batch goes on.
    assert journal.kinds() == ["add", "dead_letter", "flush", "add", "flush", "checkpoint"]
    letter = journal.events[1][1]
    assert letter.source == "kinesis:orders/shardId-000000000007/2:4"
    assert letter.error_type == "ValueError" and letter.data == b"bad" and "bad" not in letter.reason


def test_without_a_dead_letter_destination_a_rejected_record_stops_the_worker_before_checkpointing():
    journal = Journal()
    proc = processor(journal, lambda record: 1 / 0, dead_letters=False)
    with pytest.raises(SystemExit):
        run_batch(proc, journal, kcl_record("1", b"x"))
    assert "checkpoint" not in journal.kinds()


def test_a_failing_sink_stops_the_worker_before_checkpointing():
    journal = Journal(add_errors=[RuntimeError("destination is gone")])
    proc = processor(journal)
    with pytest.raises(SystemExit):
        run_batch(proc, journal, kcl_record("1", b"x"))
    assert "checkpoint" not in journal.kinds()


def test_sink_backpressure_waits_and_retries():
    journal, clock = Journal(add_errors=[SinkBackpressureError(0.5)]), FakeClock()
    proc = processor(journal, clock=clock)
    run_batch(proc, journal, kcl_record("1", b"x"))
    assert journal.kinds() == ["add", "flush", "checkpoint"]
    assert clock.slept and clock.slept[0] >= 0.5


def test_checkpoint_interval_skips_checkpoints_until_due():
    journal, clock = Journal(), FakeClock()
    proc = processor(journal, clock=clock, checkpoint_interval_s=10)
    run_batch(proc, journal, kcl_record("1", b"x"))
    clock.advance(11)
    run_batch(proc, journal, kcl_record("2", b"y"))
    assert journal.kinds() == ["add", "flush", "add", "flush", "checkpoint"]


def test_shard_end_and_shutdown_checkpoint_but_lease_loss_does_not():
    journal = Journal()
    messages.ShardEndedInput({"action": "shardEnded"}).dispatch(journal, processor(journal))
    assert journal.kinds() == ["flush", "checkpoint", "close", "close"]   # sink, then dead-letter store

    journal = Journal()
    proc = processor(journal)
    messages.ShutdownRequestedInput({"action": "shutdownRequested"}).dispatch(journal, proc)
    assert journal.kinds() == ["flush", "checkpoint"]      # leaseLost or the end of input closes
    messages.LeaseLostInput({"action": "leaseLost"}).dispatch(journal, proc)
    proc.close()
    assert journal.kinds() == ["flush", "checkpoint", "close", "close"]

    journal = Journal()
    messages.LeaseLostInput({"action": "leaseLost"}).dispatch(journal, processor(journal))
    assert journal.kinds() == ["close", "close"]


def test_over_the_real_kclpy_protocol_stdout_carries_only_protocol_messages(capsys):
    lines = [
        {"action": "initialize", "shardId": "shardId-000000000001", "sequenceNumber": "TRIM_HORIZON",
         "subSequenceNumber": 0},
        {"action": "processRecords", "millisBehindLatest": 0, "records": [kcl_record("5", b"hello")]},
        {"action": "checkpoint", "sequenceNumber": "5", "subSequenceNumber": 0, "error": None},
        {"action": "shardEnded"},
        {"action": "checkpoint", "sequenceNumber": "SHARD_END", "subSequenceNumber": 0, "error": None},
    ]
    stdin = io.StringIO("".join(json.dumps(line) + "\n" for line in lines))
    stdout = io.StringIO()
    sink = Journal()
    proc = PipelineRecordProcessor(lambda record: [record.data], sink, registry=CollectorRegistry(),
                                   stream_name="s")
    kcl.KCLProcess(proc, input_file=stdin, output_file=stdout, error_file=io.StringIO()).run()
    sent = [json.loads(line) for line in stdout.getvalue().splitlines() if line.strip()]
    assert [m["action"] for m in sent] == ["status", "checkpoint", "status", "checkpoint", "status"]
    assert [m.get("responseFor") for m in sent if m["action"] == "status"] == \
           ["initialize", "processRecords", "shardEnded"]
    assert ("add", b"hello") in sink.events
    assert capsys.readouterr().out == ""


async def test_consume_to_file_writes_one_line_per_record(tmp_path):
    sink = AppendJsonLines(tmp_path / "out" / "records.jsonl")
    pipeline = describe("w1")
    for seq, data in [("1", b"text"), ("2", b"\xff\xfe")]:
        for item in pipeline(ConsumedRecord(data, "pk", "shardId-0", seq, 0, 1.5)):
            await sink.add(item)
    await sink.close()
    rows = [json.loads(line) for line in (tmp_path / "out" / "records.jsonl").read_text().splitlines()]
    assert [row["data"] for row in rows] == ["text", None]
    assert base64.b64decode(rows[1]["data_b64"]) == b"\xff\xfe"
    assert {row["worker_id"] for row in rows} == {"w1"} and rows[0]["sequence_number"] == "1"
