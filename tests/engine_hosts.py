"""The three engines' hosts, run in-process over a list of records with their I/O replaced.

- the local runner's ``run_stream`` over a ``ScriptedConsumer``;
- the KCL ``PipelineRecordProcessor``, driven with amazon-kclpy's own messages, as the daemon drives it;
- the PyFlink ``ApplyPipeline`` operator, called as Flink calls it.

Each returns (outputs, dead letters), so a test can compare the engines record for record.
"""
from __future__ import annotations

import asyncio
import base64
import random

from amazon_kclpy import messages
from prometheus_client import CollectorRegistry

from connectors.dead_letter import DeadLetter
from connectors.kcl.processor import PipelineRecordProcessor, record_pipeline
from connectors.testing import FakeClock, ListDeadLetters, ListSink, ScriptedConsumer
from jobs.local.runner import run_stream
from pipelines.pii.dead_letters import DeadLetterMask
from pipelines.records import from_avro

STREAM, SHARD = "orders", "shardId-000000000003"


def run_local(pipeline, datas: list[bytes]) -> tuple[list, list[DeadLetter]]:
    letters, sink = ListDeadLetters(mask=DeadLetterMask()), ListSink()
    consumer = ScriptedConsumer(STREAM, [ScriptedConsumer.batch(SHARD, datas)])
    asyncio.run(run_stream(pipeline, consumer, [sink], dead_letters=letters, clock=FakeClock()))
    return sink.records, letters.letters


def run_kcl(pipeline, datas: list[bytes]) -> tuple[list, list[DeadLetter]]:
    letters, sink = ListDeadLetters(mask=DeadLetterMask()), ListSink()
    processor = PipelineRecordProcessor(record_pipeline(pipeline), sink, dead_letters=letters, clock=FakeClock(),
                                        registry=CollectorRegistry(), rng=random.Random(1), stream_name=STREAM)
    processor.initialize(messages.InitializeInput({"action": "initialize", "shardId": SHARD,
                                                   "sequenceNumber": None, "subSequenceNumber": 0}))

    class Checkpointer:
        def checkpoint(self, sequence_number=None, sub_sequence_number=None):
            pass

    records = [messages.Record({"action": "record", "data": base64.b64encode(data).decode(), "partitionKey": "k",
                                "sequenceNumber": str(1 + i), "subSequenceNumber": 0,
                                "approximateArrivalTimestamp": 1_700_000_000_000}) for i, data in enumerate(datas)]
    batch = messages.ProcessRecordsInput({"action": "processRecords", "millisBehindLatest": 0, "records": records})
    batch.dispatch(Checkpointer(), processor)
    return sink.records, letters.letters


def run_flink(pipeline, datas: list[bytes]) -> tuple[list, list[DeadLetter]]:
    from jobs.flink.pipeline_job import DEAD_LETTERS, ApplyPipeline

    class Setup:
        def open(self, metrics):
            return pipeline

        def close(self):
            pass

    class Counter:
        def inc(self, n=1):
            pass

    class Context:
        def get_metrics_group(self):
            return type("Metrics", (), {"counter": lambda self, name: Counter()})()

    operator = ApplyPipeline("tests:pipeline", STREAM, "pipelines.pii.dead_letters:mask_dead_letter",
                             Setup())
    operator.open(Context())
    letters, outputs = [], []
    for i, data in enumerate(datas):
        # What the source's positioned deserializer emits, sequence numbers as KCL's.
        for item in operator.process_element((SHARD, str(1 + i), 0, data), None):
            if item[0] == DEAD_LETTERS:
                letters.append(DeadLetter.from_json(item[1][1]))
            else:
                outputs.append(from_avro(item[2]))
    return outputs, letters


ENGINES = {"local": run_local, "kcl": run_kcl, "flink": run_flink}
