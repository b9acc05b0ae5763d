"""The event-sourcing Flink job's cost per event, against the engine's floor over the same stream, in one run.

    .venv/bin/python -m benchmarks.eventsourcing_flink [--events 100000] [--warmup-events 20000] [--repeats 1]
        [--set projection.flush.ms=0] [--only eventsourcing]

Both jobs run bounded on the MiniCluster at parallelism 1 over a one-shard stream of bank events on the local
stack, once over a short stream and once over a long one; the difference in the CPU seconds of all the job's
processes (the JVM, the PyFlink client and the Python workers, read from ``/proc`` for the job's session),
divided by the difference in events, is an event's cost with start-up taken out; ``*_without_jit`` takes out the
JVM's JIT compiling too (its C1/C2 threads), which a job that has run a while no longer pays.

- ``eventsourcing``: ``jobs.flink.eventsourcing_job`` with every output (projections and totals to DynamoDB,
  derived events to a stream, dead letters to a stream);
- ``sql-floor``: ``jobs.flink.pipeline_sql_job`` with ``pipeline`` ``none``: Java reads, decodes and writes the
  envelopes to a stream, no Python at all (the passthrough floor of the Flink engine issue).

``flink_rate`` is what ``shardline bench eventsourcing`` calls; it returns events/s per core and µs per event
of both, and the job's share of the floor.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.flink_progress import SOURCE_RECORDS

REPO_ROOT = Path(__file__).resolve().parents[1]
TRANSACTIONS = 49
"""Deposits and withdrawals per account (about 50 events an account, as ``benchmarks.eventsourcing``)."""
JOBS = {"eventsourcing": "jobs.flink.eventsourcing_job", "sql-floor": "jobs.flink.pipeline_sql_job"}
PROGRESS = {"eventsourcing": r".*shardline_es_events_read", "sql-floor": SOURCE_RECORDS}
"""The counter that says how far a job has got (``JobProgress``): the records the ES job's Python step has read
(its source runs ahead of that step by whole bundles, and its derived events reach their sink in bursts); the
floor's source, chained to its sink.  Python's counters reach Flink every few seconds, so the ES job's window is
coarse: a few readings over a 300,000-event run."""


def bank_entries(count: int, seed: int, transactions: int = TRANSACTIONS) -> list[tuple[bytes, str]]:
    """``count`` or so bank events as Avro envelopes with their partition keys (clean: no faults), an account's
    opening and ``transactions`` deposits and withdrawals each, spread over the whole stream."""
    from pipelines.eventsourcing.synthetic import BankStreamConfig, bank_envelope, generate_bank_stream
    from pipelines.records import to_avro

    stream = generate_bank_stream(BankStreamConfig(accounts=max(1, count // (transactions + 1)),
                                                   transactions=transactions, seed=seed))
    envelopes = [bank_envelope(payload, n, seed) for n, (payload, _) in enumerate(stream.records[:count])]
    return [(to_avro(envelope), envelope.partition_key) for envelope in envelopes]


def _run(job: str, group: dict[str, str], workdir: Path, name: str, timeout_s: float, events: int) -> dict[str, Any]:
    """One run over ``events``: its wall time and CPU (``measure_job``), and ``steady``: its CPU an event between 30%
    and 90% of its events by its progress counter (``steady_cost``), None for a run too short to say."""
    from benchmarks.flink_progress import JobProgress
    from benchmarks.pii.flink_job import measure_job
    from connectors.local_stack import free_port

    properties = workdir / f"{name}.json"
    properties.write_text(json.dumps([{"PropertyGroupId": "shardline", "PropertyMap": group}]))
    log = workdir / f"{name}.log"
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", JOBS[job], "--properties", str(properties)],
                                   cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, "FLINK_LOG_DIR": str(workdir / "logs"),
                                        "SHARDLINE_FLINK_REST_PORT": str(port)})
    return measure_job(process, job, log, timeout_s, progress=JobProgress(port, PROGRESS[job]), records=events)


def _runs(events: int, warmup_events: int, repeats: int, seed: int, workdir: Path, timeout_s: float,
          job_properties: dict[str, str], jobs: tuple[str, ...], transactions: int) -> dict[str, Any]:
    from benchmarks.flink_progress import in_run_cost
    from benchmarks.pii.flink_job import kinesis_protocol, without_jit
    from benchmarks.timeseries import put_all
    from connectors.aws import client
    from connectors.testing import create_stream

    kinesis, dynamodb = client("kinesis"), client("dynamodb")
    client("s3").create_bucket(Bucket="esb-letters")
    entries = bank_entries(events, seed, transactions)
    sizes = {"short": warmup_events, "long": len(entries)}
    for size, count in sizes.items():
        create_stream(kinesis, f"esb-{size}", 1)
        put_all(f"esb-{size}", entries[:count])
    for name in ("esb-derived", "esb-dlq", "esb-floor-out"):
        create_stream(kinesis, name, 1)
    common = {"source.bounded": "true", "parallelism": "1", "checkpoint.interval.ms": "0"}
    runs: dict[str, dict[str, list]] = {job: {size: [] for size in sizes} for job in jobs}
    for repeat in range(repeats):
        for size in sizes:
            projection, totals = f"esb-proj-{size}-{repeat}", f"esb-totals-{size}-{repeat}"
            for table, key in ((projection, "aggregate_id"), (totals, "group")):
                dynamodb.create_table(TableName=table, KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                                      AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                                      BillingMode="PAY_PER_REQUEST")
            groups = {"eventsourcing": {**common, "input.stream": f"esb-{size}", "projection.table": projection,
                                        "totals.table": totals, "derived.stream": "esb-derived",
                                        "dead_letter.stream": "esb-dlq",
                                        "dead_letter.s3": "s3://esb-letters/dead-letters", **job_properties},
                      "sql-floor": {**common, "input.stream": f"esb-{size}", "output.stream": "esb-floor-out",
                                    "dead_letter.stream": "esb-dlq",
                                    "dead_letter.s3": "s3://esb-letters/dead-letters", "pipeline": "none"}}
            for job in jobs:
                group = groups[job]
                result = _run(job, group, workdir, f"{job}-{size}-{repeat}", timeout_s, sizes[size])
                if job == "eventsourcing":
                    result["aggregates"] = dynamodb.scan(TableName=projection, Select="COUNT")["Count"]
                runs[job][size].append(result)
    extra = sizes["long"] - sizes["short"]
    summary: dict[str, Any] = {"events": sizes["long"], "warmup_events": sizes["short"], "parallelism": 1,
                               "kinesis_protocol": kinesis_protocol(),
                               "events_per_aggregate": transactions + 1}
    for job, by_size in runs.items():
        cpu = [(sum(long["cpu_s"].values()) - sum(short["cpu_s"].values())) / extra
               for long, short in zip(by_size["long"], by_size["short"])]
        python = [(long["cpu_s"]["python"] - short["cpu_s"]["python"]) / extra
                  for long, short in zip(by_size["long"], by_size["short"])]
        wall = [extra / max(1e-3, long["wall_s"] - short["wall_s"])
                for long, short in zip(by_size["long"], by_size["short"])]
        median = statistics.median(cpu)
        steady = without_jit(median * 1e6, by_size, extra)
        summary[job] = {"us_per_event": round(median * 1e6, 1),
                        "python_us_per_event": round(statistics.median(python) * 1e6, 1),
                        "events_per_s_per_core": round(1 / median, 1) if median > 0 else None,
                        "jit_us_per_event": steady["jit_us_per_record"],
                        "us_per_event_without_jit": steady["us_per_record_without_jit"],
                        "events_per_s_per_core_without_jit": steady["records_per_s_per_core_without_jit"],
                        "events_per_s_wall": round(statistics.median(wall), 1),
                        "in_run": in_run_cost([run["steady"] for run in by_size["long"]]), "runs": by_size}
    if "sql-floor" in summary and "eventsourcing" in summary:
        floor, job = summary["sql-floor"]["us_per_event"], summary["eventsourcing"]["us_per_event"]
        summary["eventsourcing_share_of_floor"] = round(floor / job, 3) if job > 0 else None
    return summary


def flink_rate(events: int = 100_000, warmup_events: int = 20_000, repeats: int = 1, seed: int = 5,
               timeout_s: float = 900.0, job_properties: dict[str, str] | None = None,
               jobs: tuple[str, ...] = tuple(JOBS), transactions: int = TRANSACTIONS) -> dict[str, Any]:
    """Both jobs over ``events`` and ``warmup_events`` bank events, ``repeats`` times (medians): per job
    ``us_per_event``, ``python_us_per_event``, ``events_per_s_per_core``, ``events_per_s_wall``, and
    ``eventsourcing_share_of_floor``.  ``job_properties`` adds to the event-sourcing job's group (e.g.
    ``{"projection.flush.ms": "0"}``).  Starts the local stack unless AWS endpoints are set already."""
    from connectors.flink import build_connector_jar
    from connectors.testing import running_local_stack

    if events <= warmup_events:
        raise ValueError("events must be more than warmup_events: the difference is what is measured")
    build_connector_jar()
    with tempfile.TemporaryDirectory(prefix="shardline-bench-es-flink-") as folder:
        if os.environ.get("AWS_ENDPOINT_URL_KINESIS"):
            return _runs(events, warmup_events, repeats, seed, Path(folder), timeout_s, dict(job_properties or {}),
                         jobs, transactions)
        with running_local_stack():
            return _runs(events, warmup_events, repeats, seed, Path(folder), timeout_s, dict(job_properties or {}),
                         jobs, transactions)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--warmup-events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a property of the event-sourcing job (e.g. projection.flush.ms=0)")
    parser.add_argument("--only", choices=sorted(JOBS), help="run one of the jobs alone")
    parser.add_argument("--transactions", type=int, default=TRANSACTIONS,
                        help="deposits and withdrawals an account (its events less one): few make a stream of "
                             "short-lived aggregates, many new ones all along")
    args = parser.parse_args(argv)
    result = flink_rate(args.events, args.warmup_events, args.repeats,
                        job_properties=dict(item.split("=", 1) for item in args.set),
                        jobs=(args.only,) if args.only else tuple(JOBS), transactions=args.transactions)
    print(json.dumps({job: {k: v for k, v in value.items() if k != "runs"} if isinstance(value, dict) else value
                      for job, value in result.items()}, indent=2))


if __name__ == "__main__":
    main()
