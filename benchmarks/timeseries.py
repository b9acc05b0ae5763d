"""The time-series pattern on every engine, against the same windows in pure Flink SQL, in one run.

    shardline bench timeseries [--records 100000] [--warmup-records 10000] [--repeats 2] [--rate 5000]

- **Flink**, parallelism 2, bounded, on the local stack: ``jobs.flink.timeseries_job`` (plain readings checked
  in Java, the rest in Python; series_step; windows), the same job with a raw store (every reading through
  the Python check, for its raw payload), against ``benchmarks.timeseries_sql`` (the same windows, all JVM).  Each job
  runs over a short stream and a long one; the differences give a record's CPU (all the job's processes) and
  its wall time, start-up taken out.  Headline: the pattern's records/s as a share of the baseline's.
- **The local runner**: ``shardline ts run`` over the same readings in a file (CPU of the process, long less
  short).  **The KCL processor**: ``PipelineRecordProcessor`` with the pattern (``TimeseriesStep``), driven
  with amazon-kclpy's messages as the daemon drives it, its outputs to a list (CPU of this process).
- **Latency** at a steady rate: the Flink job unbounded, readings put at ``--rate`` (KPL-aggregated) stamped with the time
  they leave; for each window, when its item appears in DynamoDB after the window's end.
- **The detectors** on injected anomalies: precision and recall of MAD and EWMA on the same mix.

Writes ``benchmarks/results/timeseries.json`` and ``timeseries.png``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.pii.flink_job import measure_job
from benchmarks.report import RESULTS_DIR, write_results

START_MS = 1_767_225_600_000
REPO_ROOT = Path(__file__).resolve().parents[1]
JOBS = {"pattern": "jobs.flink.timeseries_job", "pattern-raw-store": "jobs.flink.timeseries_job",
        "pure-sql": "benchmarks.timeseries_sql"}
# With a raw store every reading takes the Python check (for its raw payload); without one, plain readings skip it.
JOB_PROPERTIES = {"pattern-raw-store": {"raw.s3": "s3://ts-bench/raw"}}


@dataclass(frozen=True)
class TimeseriesBenchConfig:
    records: int = 100_000
    """Readings in the long stream."""
    warmup_records: int = 10_000
    """Readings in the short stream, whose run is subtracted (start-up and shutdown)."""
    repeats: int = 2
    """Runs of each job over each stream; medians are reported."""
    parallelism: int = 2
    """Flink parallelism (and shards of each stream)."""
    devices: int = 50
    """Devices, each sending four metrics."""
    window_s: float = 60.0
    """Window length of both jobs."""
    latency_rate: float = 5000.0
    """Readings a second for the latency run."""
    latency_s: float = 60.0
    """How long the latency run puts readings."""
    latency_window_s: float = 10.0
    """Window length in the latency run (short, for many windows)."""
    job_timeout_s: float = 600.0
    seed: int = 3


def readings(config: TimeseriesBenchConfig, count: int) -> list[dict]:
    from pipelines.timeseries.synthetic import TelemetryConfig, generate

    telemetry = TelemetryConfig(devices=config.devices, rate_per_s=1000.0, seed=config.seed)
    return [payload for payload, _ in generate(telemetry, count, START_MS)]


def envelopes(payloads: list[dict]) -> list[tuple[bytes, str]]:
    from pipelines.records import Record, to_avro

    return [(to_avro(Record(id=f"bench-{n}", type="telemetry.reading", source="bench", partition_key=p["device_id"],
                            event_time=p["event_time"], payload=p)), p["device_id"]) for n, p in enumerate(payloads)]


def put_all(stream: str, entries: list[tuple[bytes, str]]) -> None:
    from connectors.aws import AwsConfig, client

    kinesis = client("kinesis", AwsConfig(sdk_retries=5))
    for start in range(0, len(entries), 500):
        batch = [{"Data": data, "PartitionKey": key} for data, key in entries[start:start + 500]]
        while batch:
            response = kinesis.put_records(StreamName=stream, Records=batch)
            batch = [entry for entry, result in zip(batch, response["Records"]) if "ErrorCode" in result]


def run_flink(job: str, group: dict[str, str], workdir: Path, name: str, timeout_s: float) -> dict[str, Any]:
    """Run ``job`` (a module) with property group ``group``; its wall time and its processes' CPU by role."""
    properties = workdir / f"{name}.json"
    properties.write_text(json.dumps([{"PropertyGroupId": "shardline", "PropertyMap": group}]))
    log = workdir / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", JOBS[job], "--properties", str(properties)], cwd=REPO_ROOT,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return measure_job(process, job, log, timeout_s)


def flink_runs(config: TimeseriesBenchConfig, workdir: Path) -> dict[str, Any]:
    """Each job's CPU a record, the long run's less the short one's (start-up out), and without the JVM's JIT
    compiling too (``*_without_jit``: what a job that has run a while pays)."""
    from benchmarks.pii.flink_job import without_jit
    from connectors.aws import client
    from connectors.testing import create_stream
    from connectors.timeseries_store import create_table

    kinesis, dynamodb, s3 = client("kinesis"), client("dynamodb"), client("s3")
    s3.create_bucket(Bucket="ts-bench")
    sizes = {"short": config.warmup_records, "long": config.records}
    payloads = readings(config, config.records)
    for size, count in sizes.items():
        create_stream(kinesis, f"ts-{size}", config.parallelism)
        put_all(f"ts-{size}", envelopes(payloads[:count]))
    runs: dict[str, dict[str, list]] = {job: {size: [] for size in sizes} for job in JOBS}
    for repeat in range(config.repeats):
        for job in JOBS:
            for size in sizes:
                table = f"ts-{job}-{size}-{repeat}"
                create_table(dynamodb, table)
                group = {"input.stream": f"ts-{size}", "aggregate.table": table, "source.bounded": "true",
                         "parallelism": str(config.parallelism), "checkpoint.interval.ms": "0",
                         "dead_letter.s3": "s3://ts-bench/dead-letters", "ts.window_s": str(config.window_s),
                         **JOB_PROPERTIES.get(job, {})}
                result = run_flink(job, group, workdir, table, config.job_timeout_s)
                result["windows"] = dynamodb.scan(TableName=table, Select="COUNT")["Count"]
                runs[job][size].append(result)
    extra = sizes["long"] - sizes["short"]
    summary: dict[str, Any] = {}
    for job, by_size in runs.items():
        cpu = [(sum(long["cpu_s"].values()) - sum(short["cpu_s"].values())) / extra * 1e6
               for long, short in zip(by_size["long"], by_size["short"])]
        python = [(long["cpu_s"]["python"] - short["cpu_s"]["python"]) / extra * 1e6
                  for long, short in zip(by_size["long"], by_size["short"])]
        wall = [extra / max(1e-3, long["wall_s"] - short["wall_s"]) for long, short in zip(by_size["long"], by_size["short"])]
        median_cpu = statistics.median(cpu)
        steady = without_jit(median_cpu, by_size, extra)
        summary[job] = {"cpu_us_per_record": round(median_cpu, 1),
                        "python_cpu_us_per_record": round(statistics.median(python), 1),
                        "records_per_s_per_core": round(1e6 / median_cpu, 1),
                        "jit_us_per_record": steady["jit_us_per_record"],
                        "cpu_us_per_record_without_jit": steady["us_per_record_without_jit"],
                        "records_per_s_per_core_without_jit": steady["records_per_s_per_core_without_jit"],
                        "records_per_s_wall": round(statistics.median(wall), 1),
                        "records_per_s_wall_range": [round(min(wall), 1), round(max(wall), 1)], "runs": by_size}
    for measure in ("records_per_s_per_core", "records_per_s_wall"):
        summary[f"pattern_share_of_pure_sql_{measure}"] = round(
            summary["pattern"][measure] / summary["pure-sql"][measure], 3)
        summary[f"pattern_raw_store_share_of_pure_sql_{measure}"] = round(
            summary["pattern-raw-store"][measure] / summary["pure-sql"][measure], 3)
    return summary


def local_runner_cost(config: TimeseriesBenchConfig, workdir: Path) -> dict[str, Any]:
    """``shardline ts run`` over a file: CPU of the process, the long file's less the short one's."""
    import resource

    payloads = readings(config, config.records)
    costs = []
    for _ in range(config.repeats):
        cpu = {}
        for size, count in (("short", config.warmup_records), ("long", config.records)):
            path = workdir / f"readings-{size}.jsonl"
            path.write_text("".join(json.dumps(p) + "\n" for p in payloads[:count]))
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([sys.executable, "-c", "from jobs.cli import main; main()", "ts", "run", "--input", str(path), "--output",
                            str(workdir / f"windows-{size}.jsonl")], cwd=REPO_ROOT, check=True, capture_output=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[size] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        costs.append((cpu["long"] - cpu["short"]) / (config.records - config.warmup_records) * 1e6)
    median = statistics.median(costs)
    return {"cpu_us_per_record": round(median, 1), "records_per_s_per_core": round(1e6 / median, 1)}


def kcl_processor_cost(config: TimeseriesBenchConfig) -> dict[str, Any]:
    """The KCL processor in this process, fed batches of 1,000 as the daemon feeds it; its outputs to a list."""
    from prometheus_client import CollectorRegistry

    from benchmarks.kcl_messages import NullCheckpointer, initialize, record_batches
    from connectors.kcl.processor import PipelineRecordProcessor, ProcessorConfig
    from connectors.kcl.timeseries import TimeseriesStep
    from connectors.snapshots import FileSnapshots
    from connectors.testing import FakeClock, ListDeadLetters, ListSink
    from pipelines.timeseries.config import TimeseriesConfig
    from pipelines.timeseries.pattern import TimeseriesPattern

    data = [d for d, _ in envelopes(readings(config, config.records))]
    costs = []
    for _ in range(config.repeats):
        with tempfile.TemporaryDirectory() as folder:
            pattern = TimeseriesPattern(TimeseriesConfig(window_s=config.window_s),
                                        clock=FakeClock(START_MS / 1000 + 86_400))
            step = TimeseriesStep(pattern, FileSnapshots(folder))
            processor = PipelineRecordProcessor(step, ListSink(), dead_letters=ListDeadLetters(), clock=FakeClock(),
                                                registry=CollectorRegistry(), rng=random.Random(1), stream_name="bench",
                                                state=step, config=ProcessorConfig(checkpoint_interval_s=10.0))
            initialize(processor)
            batches = record_batches(data)
            started = time.process_time()
            for batch in batches:
                batch.dispatch(NullCheckpointer(), processor)
            costs.append((time.process_time() - started) / len(data) * 1e6)
    median = statistics.median(costs)
    return {"cpu_us_per_record": round(median, 1), "records_per_s_per_core": round(1e6 / median, 1),
            "note": "snapshots every 10 s of a fake clock that does not move: the processor's work, no I/O"}


def detector_quality(config: TimeseriesBenchConfig) -> dict[str, Any]:
    """Precision and recall of each detector on the same injected anomalies (6 to 12 standard deviations)."""
    from pipelines.clock import FakeClock
    from pipelines.timeseries.config import TimeseriesConfig
    from pipelines.timeseries.pattern import Anomaly, TimeseriesPattern
    from pipelines.timeseries.synthetic import TelemetryConfig, generate

    data = list(generate(TelemetryConfig(devices=config.devices, anomaly_rate=0.005, seed=config.seed), 200_000,
                         START_MS))
    injected = {(f"{p['device_id']}/{p['metric']}", p["event_time"]) for p, label in data if label == "anomaly"}
    out = {}
    for name, settings in (("mad", {}), ("ewma", {"detector": "ewma", "detector_history": 60}),
                           ("mad@3.5", {"detector_threshold": 3.5})):
        pattern = TimeseriesPattern(TimeseriesConfig(**settings), clock=FakeClock(START_MS / 1000 + 86_400))
        flagged = {(o.series, o.event_time) for p, _ in data for o in pattern.on_payload(p) if isinstance(o, Anomaly)}
        flagged |= {(o.series, o.event_time) for o in pattern.finish() if isinstance(o, Anomaly)}
        hits = len(flagged & injected)
        out[name] = {"precision": round(hits / max(1, len(flagged)), 4), "recall": round(hits / len(injected), 4),
                     "injected": len(injected), "flagged": len(flagged), "settings": settings}
    return out


def latency(config: TimeseriesBenchConfig, workdir: Path) -> dict[str, Any]:
    """The Flink job unbounded; readings put at a steady rate, stamped when they leave; per window, the time its
    item appears in DynamoDB after the window's end (a window closes 5 s of out-of-orderness after it)."""
    from connectors.aws import client
    from connectors.testing import create_stream
    from connectors.timeseries_store import create_table

    kinesis, dynamodb = client("kinesis"), client("dynamodb")
    create_stream(kinesis, "ts-latency", config.parallelism)
    create_table(dynamodb, "ts-latency")
    group = {"input.stream": "ts-latency", "aggregate.table": "ts-latency", "source.init.position": "LATEST",
             "parallelism": str(config.parallelism), "checkpoint.interval.ms": "10000",
             "dead_letter.s3": "s3://ts-bench/dead-letters", "ts.window_s": str(config.latency_window_s),
             "python.bundle.time.ms": "100"}
    properties = workdir / "latency.json"
    properties.write_text(json.dumps([{"PropertyGroupId": "shardline", "PropertyMap": group}]))
    with open(workdir / "latency.log", "wb") as out:
        job = subprocess.Popen([sys.executable, "-m", JOBS["pattern"], "--properties", str(properties)],
                               cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    seen: dict[tuple[str, int], float] = {}
    stop = threading.Event()

    def watch() -> None:  # alongside the producer: a window is timed when its item first appears
        while not stop.is_set():
            for page in dynamodb.get_paginator("scan").paginate(TableName="ts-latency"):
                for item in page["Items"]:
                    key = (item["series"]["S"], int(item["window_start"]["N"]))
                    seen.setdefault(key, time.time() * 1000 - int(item["window_end"]["N"]))
            stop.wait(0.25)
    watcher = threading.Thread(target=watch, daemon=True)
    try:
        time.sleep(25)  # the job starts and reads from LATEST
        watcher.start()
        produced = asyncio.run(_put_steadily(config))
        time.sleep(3 * config.latency_window_s + 10)
    finally:
        stop.set()
        watcher.join(timeout=30)
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
    # A window that closed only when the run's last readings came: its latency is the wait, not the job's.
    last_end = max((start + config.latency_window_s * 1000 for _, start in seen), default=0)
    lags = sorted(lag for (_, start), lag in seen.items() if start + config.latency_window_s * 1000 < last_end)
    if not lags:
        return {"error": "no window reached DynamoDB; see latency.log", "produced": produced}
    return {"rate_per_s": config.latency_rate, "achieved_rate_per_s": round(produced["rate"], 1),
            "windows": len(lags), "window_s": config.latency_window_s, "out_of_orderness_s": 5.0,
            "after_window_end_ms": {"p50": round(_quantile(lags, 0.5)), "p99": round(_quantile(lags, 0.99))}}


async def _put_steadily(config: TimeseriesBenchConfig) -> dict[str, float]:
    from connectors.kinesis.producer import KinesisProducer, ProducerConfig
    from pipelines.records import Record, to_avro
    from pipelines.timeseries.synthetic import TelemetryConfig, TelemetryGenerator

    generator = TelemetryGenerator(TelemetryConfig(devices=config.devices, seed=config.seed, jitter_s=0))
    total = int(config.latency_rate * config.latency_s)
    started = time.monotonic()
    # KPL aggregation, as a telemetry fleet's producers would use at this rate: one PutRecords carries
    # hundreds of readings, so the emulator (on the same two cores) keeps up; the job de-aggregates.
    async with KinesisProducer(ProducerConfig(stream_name="ts-latency", aggregate=True)) as producer:
        for index in range(total):
            delay = started + index / config.latency_rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            now_ms = int(time.time() * 1000)
            payload, _ = generator.next(now_ms)
            record = Record(id=f"lat-{index}", type="telemetry.reading", source="bench",
                            partition_key=payload["device_id"], event_time=now_ms, payload=payload)
            await producer.put(to_avro(record), record.partition_key)
    return {"records": total, "rate": total / (time.monotonic() - started)}


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run(config: TimeseriesBenchConfig = TimeseriesBenchConfig(), out_dir: Path | None = RESULTS_DIR,
        plot: bool = True, with_latency: bool = True) -> dict:
    from connectors.flink import build_connector_jar
    from connectors.testing import running_local_stack

    if config.records <= config.warmup_records:
        raise ValueError("records must be more than warmup_records: the difference is what is measured")
    build_connector_jar()
    with running_local_stack(), tempfile.TemporaryDirectory(prefix="shardline-bench-ts-") as tmp:
        workdir = Path(tmp)
        flink = flink_runs(config, workdir)
        lat = latency(config, workdir) if with_latency else None
        local = local_runner_cost(config, workdir)
    result = {"benchmark": "timeseries", "config": asdict(config),
              "headline": "the pattern's Flink job, records/s as a share of the same windows in pure SQL "
                          "(goal: at least 0.6)",
              "flink": flink, "local_runner": local, "kcl_processor": kcl_processor_cost(config),
              "latency": lat, "detectors": detector_quality(config)}
    write_results(result, out_dir, "timeseries", _plot if plot else None)
    return result


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rates, quality) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    flink = result["flink"]
    labels = ["Flink pure SQL (baseline)", "Flink pattern", "Flink pattern, raw store", "KCL processor",
              "local runner (file)"]
    values = [flink["pure-sql"]["records_per_s_per_core"], flink["pattern"]["records_per_s_per_core"],
              flink["pattern-raw-store"]["records_per_s_per_core"], result["kcl_processor"]["records_per_s_per_core"],
              result["local_runner"]["records_per_s_per_core"]]
    rates.barh(labels, values, color=["tab:gray", "tab:blue", "tab:cyan", "tab:green", "tab:orange"])
    for i, value in enumerate(values):
        rates.text(value, i, f" {value:,.0f}", va="center", fontsize=8)
    rates.invert_yaxis()
    rates.set_xlabel("records/s per core (CPU of every process, start-up taken out)")
    share = flink["pattern_share_of_pure_sql_records_per_s_per_core"]
    rates.set_title(f"Time-series pattern: {share:.0%} of pure SQL's records/s per core", fontsize=9)
    names = list(result["detectors"])
    for offset, measure in ((-0.2, "precision"), (0.2, "recall")):
        quality.bar([i + offset for i in range(len(names))], [result["detectors"][n][measure] for n in names],
                    width=0.4, label=measure)
    quality.set_xticks(range(len(names)), names)
    quality.set_ylim(0.5, 1.0)
    quality.set_title("Detectors on injected anomalies", fontsize=9)
    quality.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=TimeseriesBenchConfig.records)
    parser.add_argument("--warmup-records", type=int, default=TimeseriesBenchConfig.warmup_records)
    parser.add_argument("--repeats", type=int, default=TimeseriesBenchConfig.repeats)
    parser.add_argument("--rate", type=float, default=TimeseriesBenchConfig.latency_rate)
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    result = run(TimeseriesBenchConfig(records=args.records, warmup_records=args.warmup_records,
                                       repeats=args.repeats, latency_rate=args.rate), args.out_dir,
                 with_latency=not args.no_latency)
    print(json.dumps({k: v for k, v in result.items() if k != "flink"} | {
        "flink": {k: ({kk: vv for kk, vv in v.items() if kk != "runs"} if isinstance(v, dict) else v)
                  for k, v in result["flink"].items()}}, indent=2))


if __name__ == "__main__":
    main()
