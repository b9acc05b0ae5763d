"""The PII masking job as it is deployed, per core: the PyFlink PII jobs against the passthrough jobs, same run.

    shardline bench pii-job [--records 30000] [--warmup-records 2000] [--repeats 2] [--steady-rate 5000]
    .venv/bin/python -m benchmarks.pii.flink_job (the same options)

``benchmarks.pii.throughput`` and ``shardline bench pii`` time the masker; a
deployed job also decodes and encodes Avro, crosses between the JVM and its
Python workers, and batches into S3.  This runs five jobs on the
local stack, bounded, over the same synthetic payments: on the DataStream path
(Avro decoded and encoded in Python, S3 batches in Python state)
``jobs.flink.pii_datastream_job`` and ``jobs.flink.pipeline_job`` with the identity
pipeline ("passthrough"); on the SQL path (Java decodes, encodes and writes,
only what Python needs crosses) ``jobs.flink.pii_job`` and
``jobs.flink.pipeline_sql_job`` with the identity pipeline and with none
("sql-only", the engine's floor).  It counts the CPU
time of every process of the job (the PyFlink client, its JVM, the Python
workers) by polling ``/proc`` for the job's session.  Each job runs over a
short stream and a long one; the difference divided by the difference in
records is the cost of a record, with start-up (tens of CPU-seconds of JVM)
taken out.  Medians over repetitions.  Each long run is also measured within
itself (``in_run``, ``benchmarks.flink_progress``): a count of the job's read
from Flink's REST API, fitted to its CPU from 30% to 90% of the records; it
needs runs of 500,000 records or so (at 200,000 a SQL job's window held a few
seconds).  The masker alone is timed on the same records in this process, for
the share of the job's cost that is masking.

Last, the PII job runs as ``make demo`` runs it (unbounded, S3 objects at each 5 s checkpoint), fed a steady
5,000 records/s, KPL-aggregated, for 30 s (``--steady-rate``, ``--steady-seconds``; 0 skips it): the records/s
produced and written, and the latency from each record's event time to its S3 object, p50, p99 and max.

Writes ``benchmarks/results/pii_flink_job.json`` and ``pii_flink_job.png``.
"""
from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import os
import signal
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.flink_progress import SOURCE_RECORDS, JobProgress, in_run_cost, steady_cost
from benchmarks.pii.sizing import SizingConfig, size_masking
from benchmarks.report import RESULTS_DIR, write_results
from scaling.policies.target import TargetConfig

# Benchmark name -> (the launcher's job, properties it adds): the DataStream jobs, the SQL-path jobs, and the
# SQL path with no Python at all, the floor of what the engine costs.
JOBS = {"sql-only": ("pipeline-sql", {"pipeline": "none"}), "passthrough-sql": ("pipeline-sql", {}),
        "passthrough": ("pipeline-datastream", {}), "pii": ("pii", {}), "pii-datastream": ("pii-datastream", {})}
S3_WRITTEN = r"output_s3\[\d+\]__Writer\.numRecordsIn"
"""The S3 sink's records in, on the SQL path: after the Python step (the source runs ahead of it by bundles)."""
PROGRESS = {"sql-only": S3_WRITTEN, "passthrough-sql": S3_WRITTEN, "pii": S3_WRITTEN,
            "passthrough": SOURCE_RECORDS, "pii-datastream": SOURCE_RECORDS}
"""What counts a run's progress (``benchmarks.flink_progress``); the DataStream jobs batch S3 in Python state, so
their source's count, which leads by about a bundle all run long."""
BUCKET = "shardline-bench"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class JobBenchConfig:
    """What the job benchmark runs."""

    records: int = 30_000
    """Records in the long stream."""
    warmup_records: int = 2_000
    """Records in the short stream, whose run is subtracted (start-up and shutdown)."""
    repeats: int = 2
    """Runs of each job over each stream; medians are reported."""
    shards: int = 2
    """Shards of each stream (the Flink source reads them in parallel)."""
    poll_interval_s: float = 0.1
    """How often the job's processes are read from /proc."""
    job_timeout_s: float = 300.0
    """A run taking longer stops the benchmark."""
    seed: int = 5
    """Seed of the synthetic payments."""
    jobs: tuple[str, ...] = tuple(JOBS)
    """The jobs run, by their benchmark names (``JOBS``); fewer for a quicker run of the ones you change."""
    output_stream: bool = False
    """Also write every record to an output stream, as a deployed job does (S3 only by default, the figures
    kept since the first run)."""
    steady_rate: float = 5_000.0
    """Records a second offered to the unbounded PII job for its latency (event time to S3 object)."""
    steady_seconds: float = 30.0
    """How long that rate is kept up; 0 skips the latency run."""


def session_cpu_seconds(session: int, seen: dict[int, tuple[float, str]]) -> None:
    """Record, in ``seen``, the CPU seconds (user + system) so far of every live process in ``session``."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) != session:  # field 6 of stat: the session id
                continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                command = f.read().split(b"\0")[0].decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue  # gone between listing and reading
        role = "jvm" if command.endswith("java") else "python"
        seen[int(entry.name)] = ((int(fields[11]) + int(fields[12])) / _CLOCK_TICKS, role)


JIT_THREADS = ("C1 CompilerThre", "C2 CompilerThre")
"""HotSpot's JIT compiler threads, as ``/proc`` names them (15 characters at most)."""


def jit_cpu_seconds(pid: int, seen: dict[tuple[int, int], float]) -> None:
    """Record, in ``seen`` by (pid, thread id), the CPU seconds so far of the JVM ``pid``'s JIT compiler threads
    (HotSpot starts and stops them as compiling needs, so each is kept at its last reading)."""
    try:
        tasks = list(os.scandir(f"/proc/{pid}/task"))
    except OSError:
        return
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task.name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.index("(") + 1:stat.rindex(")")] in JIT_THREADS:
            fields = stat[stat.rindex(")") + 2:].split()
            seen[(pid, int(task.name))] = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def run_job(job: str, stream: str, records: int, prefix: str, workdir: Path,
            config: JobBenchConfig) -> dict[str, Any]:
    """Run ``job`` bounded over ``stream`` (``records`` long) into S3 (and an output stream with
    ``config.output_stream``); its wall time, its processes' CPU seconds by role, and ``steady``: its CPU a record
    within the run (``steady_cost``, by ``PROGRESS``)."""
    from connectors.aws import AwsConfig, client
    from connectors.flink_launch import launch_job, write_job_properties
    from connectors.local_stack import free_port
    from connectors.testing import create_stream

    launched, extra = JOBS[job]
    kinesis = client("kinesis", AwsConfig(sdk_retries=3)) if config.output_stream else None
    if kinesis is not None:
        # A stream a run, deleted after it: the emulator keeps what it is sent in memory.
        extra = {**extra, "output.stream": prefix}
        create_stream(kinesis, prefix, config.shards)
    properties = write_job_properties(launched, {
        **extra, "input.stream": stream, "output.s3": f"s3://{BUCKET}/{prefix}", "source.init.position": "TRIM_HORIZON",
        "source.bounded": "true", "checkpoint.interval.ms": "0", "s3.batch.max-age-s": "5"}, workdir, prefix)
    log = workdir / f"{prefix}.log"
    port = free_port()
    try:
        process = launch_job(launched, properties, log, env={"SHARDLINE_FLINK_REST_PORT": str(port)})
        result = measure_job(process, job, log, config.job_timeout_s, config.poll_interval_s,
                             progress=JobProgress(port, PROGRESS[job]), records=records)
    finally:
        if kinesis is not None:
            kinesis.delete_stream(StreamName=prefix, EnforceConsumerDeletion=True)
    return {**result, "cpu_total_s": round(sum(result["cpu_s"].values()), 2)}


def measure_job(process, job: str, log: Path, timeout_s: float, poll_interval_s: float = 0.1,
                progress=None, records: int = 0) -> dict[str, Any]:
    """Wait for a job started in its own session; its wall time, the CPU seconds of its processes by role
    (the JVM, the Python client and workers), and ``jit_s``: the part of the JVM's that its JIT compiler threads
    took (warm-up: a job that runs for days compiles its hot code once, a run of a minute is still compiling it).
    With ``progress`` (``benchmarks.flink_progress.JobProgress``) over a run of ``records`` input records,
    ``steady`` too: its CPU a record within the run (``steady_cost`` of the count and the CPU at each new
    reading), None for a run too short to say.
    A job over ``timeout_s`` is killed; one that fails raises with the end of its log."""
    started = time.monotonic()
    seen: dict[int, tuple[float, str]] = {}
    jit: dict[tuple[int, int], float] = {}
    trace: list[tuple[int, float, float, float]] = []
    next_reading = started

    def cpu_by_role() -> dict[str, float]:
        return {role: sum(s for s, r in seen.values() if r == role) for role in ("jvm", "python")}

    try:
        while process.poll() is None:
            session_cpu_seconds(process.pid, seen)
            for pid in [pid for pid, (_, role) in seen.items() if role == "jvm"]:
                jit_cpu_seconds(pid, jit)
            if progress is not None and time.monotonic() >= next_reading:
                next_reading = time.monotonic() + 0.5  # the metrics refresh once a second
                read = progress.records()
                if read is not None and (not trace or read != trace[-1][0]):
                    cpu = cpu_by_role()
                    trace.append((read, cpu["jvm"], cpu["python"], sum(jit.values())))
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"the {job} job ran over {timeout_s:.0f} s; see {log}")
            time.sleep(poll_interval_s)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"the {job} job exited with {process.returncode}; last lines of {log}:\n"
                           + "\n".join(log.read_text(errors="replace").splitlines()[-40:]))
    cpu = {role: round(seconds, 2) for role, seconds in cpu_by_role().items()}
    measured = {"wall_s": round(time.monotonic() - started, 2), "cpu_s": cpu, "jit_s": round(sum(jit.values()), 2)}
    return {**measured, "steady": steady_cost(trace, records)} if progress is not None else measured


def kinesis_protocol() -> str:
    """What the jobs' Java clients speak to Kinesis (``FlinkConfig.kinesis_cbor``): figures taken on JSON, where
    every record crosses as base64 text, are not comparable with those on CBOR, which AWS speaks by default."""
    from connectors.flink import FlinkConfig

    return "cbor" if FlinkConfig().kinesis_cbor else "json"


def count_written(s3, prefix: str) -> int:
    from pipelines.records import read_avro_file

    total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            total += sum(1 for _ in read_avro_file(io.BytesIO(body)))
    return total


def run(config: JobBenchConfig = JobBenchConfig(), out_dir: Path | None = RESULTS_DIR, plot: bool = True) -> dict:
    """Both jobs over both streams, ``repeats`` times; the per-record cost of each, and the ratio."""
    from connectors.aws import AwsConfig, async_client, client
    from connectors.kinesis.streams import create_stream_and_wait
    from connectors.testing import running_local_stack
    from connectors.flink_launch import DEMO_KEYS, produce_records
    from pipelines.pii import builtin_policy
    from pipelines.synthetic import synthetic_records

    if config.records <= config.warmup_records:
        raise ValueError("records must be more than warmup_records: the difference is what is measured")
    unknown = sorted(set(config.jobs) - set(JOBS))
    if unknown:
        raise ValueError(f"unknown jobs {unknown}: choose among {', '.join(JOBS)}")
    if not config.jobs:
        raise ValueError("no job to run")
    records = list(itertools.islice(synthetic_records("payments", seed=config.seed), config.records))
    sizes = {"short": config.warmup_records, "long": config.records}
    jobs = [job for job in JOBS if job in config.jobs]
    runs: dict[str, dict[str, list[dict]]] = {job: {size: [] for size in sizes} for job in jobs}
    with running_local_stack(), tempfile.TemporaryDirectory(prefix="shardline-bench-job-") as tmp:
        workdir = Path(tmp)
        s3 = client("s3", AwsConfig(sdk_retries=3))
        s3.create_bucket(Bucket=BUCKET)

        async def fill() -> None:
            async with async_client("kinesis") as kinesis:
                for size in sizes:
                    await create_stream_and_wait(kinesis, f"bench-{size}", config.shards)
            for size, count in sizes.items():
                await produce_records(f"bench-{size}", records[:count], None)
        asyncio.run(fill())
        for repeat in range(config.repeats):
            for job in jobs:  # interleaved, so drift on a shared machine hits every job alike
                for size, count in sizes.items():
                    prefix = f"{job}-{size}-{repeat}"
                    result = run_job(job, f"bench-{size}", count, prefix, workdir, config)
                    result["written"] = count_written(s3, prefix)
                    if result["written"] != count:
                        raise RuntimeError(f"the {job} job wrote {result['written']} of {count} records")
                    runs[job][size].append(result)
        steady = steady_latency(config) if config.steady_seconds > 0 and "pii" in jobs else None
    masker = size_masking(builtin_policy("payments", environ={"SHARDLINE_PII_HMAC_KEY": DEMO_KEYS["hmac"],
                                                               "SHARDLINE_PII_FPE_KEY": DEMO_KEYS["fpe"]}),
                          [r.payload for r in records[:5_000]], SizingConfig(repeats=3))
    result = summarise(runs, sizes, masker, config)
    result["steady"] = steady
    write_results(result, out_dir, "pii_flink_job", _plot if plot else None)
    return result


def steady_latency(config: JobBenchConfig) -> dict[str, Any]:
    """The PII job as ``make demo`` runs it (unbounded, S3 objects at each 5 s checkpoint), fed at a steady
    ``steady_rate`` (KPL-aggregated): records/s produced and written, and latency from event time (stamped as
    each record is handed to the producer) to S3 object."""
    from benchmarks.demo import DemoConfig, run_on_current_stack

    # Time enough after the last record for a job that fell behind to catch up: its latency is the finding.
    demo = DemoConfig(rate=config.steady_rate, seconds=config.steady_seconds, job="pii", drain_timeout_s=300.0,
                      aggregate=True)
    summary = run_on_current_stack(demo)
    if not summary["ok"]:
        raise RuntimeError(f"the steady-rate run failed:\n{summary['report']}")
    produced_per_s = summary["throughput_records_per_second"]
    return {"offered_records_per_s": config.steady_rate, "seconds": config.steady_seconds,
            "checkpoint_interval_ms": demo.checkpoint_interval_ms, "produced_records_per_s": produced_per_s,
            # Below the offered rate, records queued in the producer after their event time was stamped, and the
            # latency is mostly that queue's: the figures then describe this machine's producer, not the job.
            "producer_kept_up": produced_per_s is not None and produced_per_s >= 0.95 * config.steady_rate,
            **{key: summary[key] for key in ("produced", "written_records_per_second", "latency_p50_ms",
                                             "latency_p99_ms", "latency_max_ms", "duplicates")}}


def jit_per_record(long: dict, short: dict, extra: int) -> float:
    """Microseconds a record of JIT compiling, long run less short (0 for runs measured without it)."""
    return (long.get("jit_s", 0.0) - short.get("jit_s", 0.0)) / extra * 1e6


def without_jit(total: float, by_size: dict[str, list[dict]], extra: int) -> dict[str, Any]:
    """A job's cost a record, ``total``, with its JIT compiling taken out as well as start-up (``jit_us_per_record``:
    the median over the paired long and short runs in ``by_size``, ``extra`` records apart): what a job that has
    run for a while pays.  Runs of a few hundred thousand records still spend a third of their JVM's CPU
    compiling (C2 threads, by ``/proc``), a share that falls the longer a job runs."""
    jit = statistics.median(jit_per_record(long, short, extra) for long, short in zip(by_size["long"],
                                                                                      by_size["short"]))
    steady = total - jit
    return {"jit_us_per_record": round(jit, 1), "us_per_record_without_jit": round(steady, 1),
            "records_per_s_per_core_without_jit": round(1e6 / steady, 1) if steady > 0 else None}


def summarise(runs: dict[str, dict[str, list[dict]]], sizes: dict[str, int], masker: dict,
              config: JobBenchConfig) -> dict:
    """Per job: CPU microseconds a record (long run less short run, by repetition, median), and records/s a core."""
    extra = sizes["long"] - sizes["short"]
    jobs: dict[str, Any] = {}
    for job, by_size in runs.items():
        by_repeat = [{role: (long["cpu_s"][role] - short["cpu_s"][role]) / extra * 1e6 for role in ("jvm", "python")}
                     for long, short in zip(by_size["long"], by_size["short"])]
        per_record = {role: statistics.median(r[role] for r in by_repeat) for role in ("jvm", "python")}
        total = per_record["jvm"] + per_record["python"]
        totals = [r["jvm"] + r["python"] for r in by_repeat]
        jobs[job] = {"us_per_record": round(total, 1), "us_per_record_by_process": {r: round(v, 1) for r, v in
                                                                                   per_record.items()},
                     "us_per_record_range": [round(min(totals), 1), round(max(totals), 1)],
                     "records_per_s_per_core": round(1e6 / total, 1) if total > 0 else None,
                     **without_jit(total, by_size, extra),
                     "in_run": in_run_cost([run.get("steady") for run in by_size["long"]]),
                     "short_run_cpu_s": round(statistics.median(r["cpu_total_s"] for r in by_size["short"]), 2),
                     "runs": by_size}
    cost = {job: data["us_per_record"] for job, data in jobs.items()}
    masker_alone = masker["us_per_record"]
    in_run = jobs["pii"]["in_run"] if "pii" in jobs else None
    utilisation = TargetConfig().target_utilisation

    def ratio(a: str, b: str) -> float | None:
        return round(cost[a] / cost[b], 2) if a in cost and b in cost and cost[b] > 0 else None

    return {
        "benchmark": "pii_flink_job", "config": asdict(config), "policy": "payments",
        "kinesis_protocol": kinesis_protocol(),
        "headline": "records_per_s_per_core of each job (CPU of all its processes, start-up taken out)",
        "jobs": jobs,
        "masking_us_per_record_in_job": {path: round(cost[pii] - cost[identity], 1)
                                         for path, pii, identity in (("datastream", "pii-datastream", "passthrough"),
                                                                     ("sql", "pii", "passthrough-sql"))
                                         if pii in cost and identity in cost},
        "masker_alone_us_per_record": masker_alone,
        "pii_to_passthrough_sql_cost": ratio("pii", "passthrough-sql"),
        "pii_to_pii_datastream_cost": ratio("pii", "pii-datastream"),
        "pii_to_masker_alone_cost": round(cost["pii"] / masker_alone, 2) if "pii" in cost else None,
        "pii_to_masker_alone_cost_without_jit": round(jobs["pii"]["us_per_record_without_jit"] / masker_alone, 2)
        if "pii" in jobs else None,
        "pii_to_masker_alone_cost_in_run": round(in_run["us_per_record"] / masker_alone, 2) if in_run else None,
        "kpus_per_10k_records_per_s": {job: round(10_000 * cost[job] / 1e6 / utilisation, 2)
                                       for job in ("pii", "pii-datastream") if cost.get(job, 0) > 0},
        "target_utilisation": utilisation,
    }


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.4))
    labels, jvm, python = [], [], []
    for job in (job for job in JOBS if job in result["jobs"]):
        split = result["jobs"][job]["us_per_record_by_process"]
        labels.append(f"{job} job")
        jvm.append(split["jvm"])
        python.append(split["python"])
    labels.append("masker alone")
    jvm.append(0.0)
    python.append(result["masker_alone_us_per_record"])
    ax.barh(labels, jvm, color="tab:gray", label="JVM (source, shuffle, sinks)")
    ax.barh(labels, python, left=jvm, color="tab:blue", label="Python (pipeline; Avro and S3 on the DataStream path)")
    for i, (j, p) in enumerate(zip(jvm, python)):
        ax.text(j + p, i, f" {j + p:,.0f} us", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("CPU microseconds per record (all processes of the job, start-up taken out)")
    rates = {job: result["jobs"][job]["records_per_s_per_core"] for job in ("pii", "pii-datastream")
             if job in result["jobs"]}
    if None in rates.values():  # a run too short for a record's cost to stand out of start-up's noise
        title = "PII masking in PyFlink: too few records to measure a record's cost"
    else:
        title = "PyFlink jobs: CPU per record\n" + ", ".join(
            f"{rate:,.0f} records/s per core {path}" for job, path in (("pii", "on the SQL path"),
                                                                         ("pii-datastream", "on the DataStream path"))
            if (rate := rates.get(job)) is not None)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    steady = result.get("steady")
    if steady:
        ax.set_xlabel(ax.get_xlabel() + "\n" + (
            f"pii job offered {steady['offered_records_per_s']:,.0f} records/s for {steady['seconds']:g} s"
            + ("" if steady["producer_kept_up"] else
               f" (the producer here put only {steady['produced_records_per_s'] or 0:,.0f}/s)")
            + f": {steady['written_records_per_second'] or 0:,.0f} records/s written;\nevent time to S3 object "
            f"p50 {steady['latency_p50_ms']:,.0f} ms, p99 {steady['latency_p99_ms']:,.0f} ms "
            f"(objects at each {steady['checkpoint_interval_ms'] / 1000:g} s checkpoint)"), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=JobBenchConfig.records)
    parser.add_argument("--warmup-records", type=int, default=JobBenchConfig.warmup_records)
    parser.add_argument("--repeats", type=int, default=JobBenchConfig.repeats)
    parser.add_argument("--jobs", default=",".join(JOBS), help="comma-separated, among " + ", ".join(JOBS))
    parser.add_argument("--output-stream", action="store_true", help=
                        "also write every record to an output stream, as a deployed job does")
    parser.add_argument("--steady-rate", type=float, default=JobBenchConfig.steady_rate,
                        help="records/s offered to the unbounded PII job for its latency")
    parser.add_argument("--steady-seconds", type=float, default=JobBenchConfig.steady_seconds,
                        help="how long; 0 skips the latency run")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    result = run(JobBenchConfig(records=args.records, warmup_records=args.warmup_records, repeats=args.repeats,
                                jobs=tuple(args.jobs.split(",")), output_stream=args.output_stream,
                                steady_rate=args.steady_rate, steady_seconds=args.steady_seconds), args.out_dir)
    print(json.dumps({job: {k: v for k, v in data.items() if k != "runs"} for job, data in result["jobs"].items()}))
    print(json.dumps({k: v for k, v in result.items() if k not in ("jobs", "config")}))


if __name__ == "__main__":
    main()
