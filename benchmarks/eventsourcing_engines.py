"""The event-sourcing engines on the local stack: CPU per event of the local runner on a stream and of the KCL
processor, each with its real outputs (DynamoDB on moto, derived events on kinesalite).

- **Local runner** (``shardline es run --stream``): a process per stream, over a short and a long stream of the
  same events; the long run's CPU less the short one's, per event between them (start-up and the idle wait
  that ends a run cancel out).  Its projections are forward-only puts once per batch, its totals whole puts.
- **KCL processor** (``PipelineRecordProcessor`` with ``EventSourcingStep`` and the ``AggregateStore``), in this
  process, fed batches of 1,000 as the daemon feeds them and checkpointed every ``checkpoint_every`` batches
  (each batch's aggregates are written when it is flushed, in transactions with their branches' totals).  CPU of
  this process (its threads included); the daemon's JVM is not counted.

Used by ``benchmarks.eventsourcing`` inside a running local stack.
"""
from __future__ import annotations

import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def put_events(stream: str, records: list) -> None:
    from connectors.aws import AwsConfig, client
    from connectors.testing import create_stream
    from pipelines.records import to_avro

    kinesis = client("kinesis", AwsConfig(sdk_retries=5))
    create_stream(kinesis, stream, 2)
    entries = [{"Data": to_avro(record), "PartitionKey": record.partition_key} for record in records]
    for start in range(0, len(entries), 500):
        batch = entries[start:start + 500]
        while batch:
            response = kinesis.put_records(StreamName=stream, Records=batch)
            batch = [entry for entry, result in zip(batch, response["Records"]) if "ErrorCode" in result]


def _outputs(name: str) -> dict[str, str]:
    from connectors.aws import AwsConfig, client
    from connectors.eventsourcing_store import create_tables
    from connectors.testing import create_stream

    create_tables(client("dynamodb", AwsConfig(sdk_retries=5)), f"{name}-accounts", f"{name}-branches")
    create_stream(client("kinesis", AwsConfig(sdk_retries=5)), f"{name}-derived", 2)
    return {"projection_table": f"{name}-accounts", "totals_table": f"{name}-branches",
            "derived_stream": f"{name}-derived"}


def stream_runner_cost(records: list, repeats: int, workdir: Path) -> dict[str, Any]:
    sizes = {"short": len(records) // 10, "long": len(records)}
    costs = []
    for attempt in range(repeats):
        cpu = {}
        for size, count in sizes.items():
            name = f"es-{size}-{attempt}-{uuid.uuid4().hex[:6]}"
            put_events(name, records[:count])
            outputs = _outputs(name)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([sys.executable, "-c", "from jobs.cli import main; main()", "es", "run", "--stream", name,
                            "--snapshots", str(workdir / name), "--dlq", str(workdir / f"{name}.dlq.jsonl"),
                            "--projection-table", outputs["projection_table"], "--totals-table",
                            outputs["totals_table"], "--derived-stream", outputs["derived_stream"],
                            "--idle-timeout", "2"], cwd=REPO_ROOT, check=True, capture_output=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[size] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        costs.append((cpu["long"] - cpu["short"]) / (sizes["long"] - sizes["short"]))
    median = statistics.median(costs)
    return {"events": sizes["long"], "us_per_event": round(median * 1e6, 1),
            "events_per_s_per_core": round(1 / median, 1) if median > 0 else None,
            "note": "es run --stream: kinesalite in, DynamoDB (moto) and a derived stream out, snapshots to a folder"}


def kcl_processor_cost(records: list, repeats: int, checkpoint_every: int = 10) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry

    from benchmarks.kcl_messages import NullCheckpointer, initialize, record_batches
    from connectors.eventsourcing_store import AggregateStore
    from connectors.kcl.eventsourcing import EventSourcingStep
    from connectors.kcl.processor import PipelineRecordProcessor, ProcessorConfig
    from connectors.testing import FakeClock, ListDeadLetters
    from connectors.eventsourcing_outputs import EventSourcingOutputs, EventSourcingRouter
    from pipelines.eventsourcing.pattern import EventSourcingPattern
    from pipelines.records import to_avro

    data = [to_avro(record) for record in records]
    costs = []
    for attempt in range(repeats):
        name = f"es-kcl-{attempt}-{uuid.uuid4().hex[:6]}"
        outputs = _outputs(name)
        clock = FakeClock()
        pattern = EventSourcingPattern(clock=clock)
        store = AggregateStore(outputs["projection_table"], outputs["totals_table"],
                               total_changes=pattern.total_changes)
        step = EventSourcingStep(pattern, name, store)
        dead_letters = ListDeadLetters()
        derived = EventSourcingOutputs(dead_letters="unused", derived_stream=outputs["derived_stream"])
        router = EventSourcingRouter(dead_letters=dead_letters, store=step.commit,
                                     derived=derived.derived_sink(dead_letters=dead_letters))
        # The fake clock moves one checkpoint interval every ``checkpoint_every`` batches.
        processor = PipelineRecordProcessor(step, router, dead_letters=dead_letters, clock=clock,
                                            registry=CollectorRegistry(), rng=random.Random(1), stream_name=name,
                                            state=step, config=ProcessorConfig(checkpoint_interval_s=1.0))
        initialize(processor)
        batches = record_batches(data)
        started, wall = time.process_time(), time.monotonic()
        for number, batch in enumerate(batches, start=1):
            if number % checkpoint_every == 0:
                clock.advance(1.0)
            batch.dispatch(NullCheckpointer(), processor)
        processor.close()
        costs.append((time.process_time() - started) / len(data) * 1e6)
        wall = time.monotonic() - wall
    median = statistics.median(costs)
    return {"events": len(data), "cpu_us_per_event": round(median, 1),
            "events_per_s_per_core": round(1e6 / median, 1), "last_wall_s": round(wall, 2),
            "note": f"batches of 1,000, a checkpoint every {checkpoint_every}: each batch's aggregates are "
                    "written (transactions of up to 100 items, with the branch totals) to DynamoDB on moto; derived "
                    "events KPL-aggregated to kinesalite; the daemon's JVM is not counted"}
