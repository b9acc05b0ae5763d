"""The time-series KCL processor, driven with amazon-kclpy's messages: a crash and a takeover lose no window."""
import base64
import random

from amazon_kclpy import messages
from prometheus_client import CollectorRegistry

from connectors.kcl.processor import PipelineRecordProcessor, ProcessorConfig
from connectors.snapshots import FileSnapshots
from connectors.testing import FakeClock, ListDeadLetters, ListSink
from connectors.kcl.timeseries import TimeseriesStep
from pipelines.timeseries.synthetic import telemetry_envelope
from pipelines.records import to_avro
from pipelines.timeseries.config import TimeseriesConfig
from pipelines.timeseries.pattern import Anomaly, TimeseriesPattern
from pipelines.timeseries.synthetic import TelemetryConfig, generate
from pipelines.timeseries.windows import WindowAggregate

SHARD = "shardId-000000000001"
START_MS = 1_767_225_600_000
CONFIG = TimeseriesConfig(window_s=30, detector_min_history=10)


class Checkpointer:
    def __init__(self):
        self.at = None

    def checkpoint(self, sequence_number=None, sub_sequence_number=None):
        self.at = (sequence_number, sub_sequence_number)


def datas(count: int) -> list[bytes]:
    telemetry = TelemetryConfig(devices=3, rate_per_s=20, anomaly_rate=0.01, duplicate_rate=0.01, bad_rate=0.002,
                                seed=8)
    return [to_avro(telemetry_envelope(payload, n, 8)) if not isinstance(payload, bytes) else b"\x00garbage"
            for n, (payload, _) in enumerate(generate(telemetry, count, START_MS), start=1)]


def processor(snapshots, clock):
    step = TimeseriesStep(TimeseriesPattern(CONFIG, clock=FakeClock(START_MS / 1000 + 3600)), snapshots)
    sink, letters = ListSink(), ListDeadLetters()
    worker = PipelineRecordProcessor(step, sink, dead_letters=letters, clock=clock, registry=CollectorRegistry(),
                                     rng=random.Random(1), stream_name="telemetry", state=step,
                                     config=ProcessorConfig(checkpoint_interval_s=5))
    return worker, sink, letters


def initialize(worker, checkpoint):
    sequence, sub = checkpoint if checkpoint else (None, 0)
    worker.initialize(messages.InitializeInput({"action": "initialize", "shardId": SHARD, "sequenceNumber": sequence,
                                                "subSequenceNumber": sub}))


def deliver(worker, all_datas, start, stop, checkpointer, clock):
    for first in range(start, stop, 100):
        records = [messages.Record({"action": "record", "data": base64.b64encode(data).decode(),
                                    "partitionKey": "k", "sequenceNumber": str(1000 + i), "subSequenceNumber": 0,
                                    "approximateArrivalTimestamp": 1})
                   for i, data in enumerate(all_datas[first:min(stop, first + 100)], start=first)]
        messages.ProcessRecordsInput({"action": "processRecords", "millisBehindLatest": 0, "records": records}) \
            .dispatch(checkpointer, worker)
        clock.advance(1)


def end_shard(worker, checkpointer):
    messages.ShardEndedInput({"action": "shardEnded"}).dispatch(checkpointer, worker)


def windows_and_alerts(outputs):
    return ({(o.series, o.window_start): o for o in outputs if isinstance(o, WindowAggregate)},
            {(o.series, o.event_time): o for o in outputs if isinstance(o, Anomaly)})


def test_a_worker_that_dies_between_checkpoints_is_replaced_without_losing_or_changing_a_window(tmp_path):
    records = datas(6000)
    clock = FakeClock()
    whole, whole_sink, whole_letters = processor(FileSnapshots(tmp_path / "a"), clock)
    initialize(whole, None)
    checkpointer = Checkpointer()
    deliver(whole, records, 0, len(records), checkpointer, clock)
    end_shard(whole, checkpointer)
    expected_windows, expected_alerts = windows_and_alerts(whole_sink.records)

    snapshots = FileSnapshots(tmp_path / "b")
    first, first_sink, first_letters = processor(snapshots, clock)
    initialize(first, None)
    checkpointer = Checkpointer()
    deliver(first, records, 0, 3_950, checkpointer, clock)  # then it dies: no shutdown, no last checkpoint
    resume = checkpointer.at
    assert resume is not None and int(resume[0]) - 1000 < 3_949, "the checkpoint trails what was delivered"

    second, second_sink, second_letters = processor(snapshots, clock)
    initialize(second, resume)
    deliver(second, records, int(resume[0]) - 1000 + 1, len(records), checkpointer, clock)
    end_shard(second, checkpointer)
    windows, alerts = windows_and_alerts(first_sink.records + second_sink.records)
    assert windows == expected_windows and len(windows) > 100, "replayed windows are rewritten identically"
    assert alerts == expected_alerts and len(alerts) > 10
    letters = {(letter.source, letter.reason) for letter in first_letters.letters + second_letters.letters}
    assert letters == {(letter.source, letter.reason) for letter in whole_letters.letters} and letters
    assert len(list((tmp_path / "b" / SHARD).glob("*.json.gz"))) <= 3, "old snapshots are pruned"


def test_a_checkpoint_without_its_snapshot_starts_empty_and_says_so(tmp_path, caplog):
    worker, sink, _ = processor(FileSnapshots(tmp_path), FakeClock())
    initialize(worker, ("1234", 0))
    assert "timeseries_snapshot_missing" in caplog.text
