"""`make demo`: synthetic payments -> Kinesis -> the PyFlink PII masking job -> S3, on the local stack.

A small end-to-end benchmark, so it lives here: ``bench pii-job``'s steady-rate run is this run on the
bench's own stack (``run_on_current_stack``), and the CLI's ``shardline demo`` calls ``run_demo``.

Steps: bring the local stack up (or use the one `shardline local up` started),
create the stream and bucket, start the PyFlink job (jobs/flink/pii_job.py, the
payments policy; or jobs/flink/pipeline_sql_job.py with ``--job passthrough``)
reading through the Kinesis connector jar, wait until a warm-up record has gone
all the way through, produce payments at a steady rate, wait until S3 holds
them, and print counts, throughput, end-to-end latency and how much of the
produced PII is still in S3 (none, or the demo fails).  End-to-end latency is
the S3 object's LastModified minus the record's event_time, so it includes the
job's S3 batching: the SQL-path jobs write their S3 objects at each checkpoint
(every 5 s here), the DataStream ones (``pii-datastream``, ``pipeline-datastream``)
every ``s3.batch.max-age-s``.
"""
from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from connectors.aws import AwsConfig, client
from connectors.flink_launch import job_module, launch_job, produce_records, write_job_properties
from connectors.local_stack import LocalStack, LocalStackConfig, free_port
from connectors.testing import patched_environ
from pipelines.records import Record, read_avro_file

BUCKET = "shardline-demo"
_NOT_DIGITS = re.compile(r"\D+")


@dataclass(frozen=True)
class DemoConfig:
    """The demo's knobs; the CLI sets rate and seconds."""

    rate: float = 400.0
    """Records per second produced."""
    seconds: float = 30.0
    """How long to produce."""
    job: str = "pii"
    """The PyFlink job: pii (masks with the payments policy) or passthrough (writes records as they come)."""
    shards: int = 2
    job_start_timeout_s: float = 150.0
    """Time for the PyFlink job to start and pass the warm-up record through."""
    drain_timeout_s: float = 60.0
    """Time after the last record is produced for S3 to hold every record."""
    checkpoint_interval_ms: int = 5_000
    """The SQL-path jobs (pii, passthrough) write their S3 objects at each checkpoint."""
    s3_batch_max_age_s: float = 1.0
    python_bundle_time_ms: int = 100
    """Small bundles: the demo shows latency; throughput jobs keep Flink's 1 s."""
    aggregate: bool = False
    """KPL-aggregate what is produced (the job's source unpacks it).  One by one, this producer puts about 1,800
    records/s into kinesalite on 2 cores even with no job running (about 2,900 aggregated), so the 5,000/s of
    ``bench pii-job``'s steady run queued in the producer."""


@dataclass
class S3Tally:
    latencies_ms: list[float] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    warmup_seen: bool = False
    objects: set[str] = field(default_factory=set)
    pii_checked: int = 0
    pii_left: int = 0
    produce_started_ms: float | None = None
    last_written_ms: float | None = None


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def pii_left(record: Record, values: Sequence[str]) -> int:
    """How many of ``values`` (the PII ``record`` was produced with) it still holds, raw or as its digits.

    A value of nine digits or more is also looked for in the digits of each
    field, so "123 45 6789" written as "123-45-6789" still counts.
    """
    payload = record.payload
    fields = [str(v) for v in payload.values()] if isinstance(payload, dict) else [payload.decode("utf-8", "replace")]
    text = "\n".join(fields)
    field_digits = [_NOT_DIGITS.sub("", f) for f in fields]
    left = 0
    for value in values:
        digits = _NOT_DIGITS.sub("", value)
        if value in text or (len(digits) >= 9 and any(digits in d for d in field_digits)):
            left += 1
    return left


def tally_s3(s3, prefix: str, tally: S3Tally, pii: Mapping[str, Sequence[str]] | None = None) -> S3Tally:
    """Read every new object under ``prefix`` once; count records, their latencies and the PII (by record id) left."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"] in tally.objects:
                continue
            tally.objects.add(item["Key"])
            written_ms = item["LastModified"].timestamp() * 1000
            tally.last_written_ms = max(written_ms, tally.last_written_ms or written_ms)
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            for record in read_avro_file(io.BytesIO(body)):
                if record.id.startswith("warmup-"):
                    tally.warmup_seen = True
                    continue
                tally.ids.add(record.id)
                tally.latencies_ms.append(written_ms - record.event_time)
                if pii is not None:
                    values = pii.get(record.id, ())
                    tally.pii_checked += len(values)
                    tally.pii_left += pii_left(record, values)
    return tally


@contextlib.contextmanager
def demo_stack():
    """Use the stack `shardline local up` started, or start one for the demo and stop it after."""
    running = LocalStack.load()
    if running.servers and all(s["healthy"] for s in running.status()):
        with patched_environ(running.env()):
            yield running
        return
    ports = LocalStackConfig()
    kinesis_port = ports.kinesis_port if _port_free(ports.kinesis_port) else free_port()
    moto_port = ports.moto_port if _port_free(ports.moto_port) else free_port()
    with tempfile.TemporaryDirectory(prefix="shardline-demo-") as state:
        stack = LocalStack(LocalStackConfig(kinesis_port=kinesis_port, moto_port=moto_port, state_dir=Path(state)))
        stack.up()
        try:
            with patched_environ(stack.env()):
                yield stack
        finally:
            stack.down()


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def start_job(stream: str, prefix: str, workdir: Path, config: DemoConfig) -> tuple[subprocess.Popen, Path]:
    path = write_job_properties(config.job, {
        "input.stream": stream, "output.s3": f"s3://{BUCKET}/{prefix}",
        "source.init.position": "TRIM_HORIZON",
        "checkpoint.interval.ms": str(config.checkpoint_interval_ms),
        "checkpoint.dir": str(workdir / "checkpoints"),
        "s3.batch.max-age-s": str(config.s3_batch_max_age_s),
        "python.bundle.time.ms": str(config.python_bundle_time_ms)}, workdir)
    log = workdir / "flink-job.log"
    return launch_job(config.job, path, log), log


def stop_job(job: subprocess.Popen) -> None:
    if job.poll() is None:
        os.killpg(job.pid, signal.SIGTERM)
        try:
            job.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()


def wait_for(condition, timeout_s: float, job: subprocess.Popen, log: Path, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if job.poll() is not None:
            raise RuntimeError(f"the PyFlink job exited with code {job.returncode} while {what}; "
                               f"last lines of {log}:\n" + "\n".join(log.read_text().splitlines()[-20:]))
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f}s {what}; see {log}")
        time.sleep(0.5)


def run_demo(rate: float = 400.0, seconds: float = 30.0, job: str = "pii", config: DemoConfig | None = None) -> dict:
    config = config or DemoConfig(rate=rate, seconds=seconds, job=job)
    job_module(config.job)  # an unknown job stops the demo before it starts anything
    with demo_stack():
        return run_on_current_stack(config)


def run_on_current_stack(config: DemoConfig) -> dict:
    """The demo on the stack the environment's endpoints name (``bench pii-job``'s steady-rate run uses it)."""
    import itertools

    from connectors.kinesis.streams import create_stream_and_wait
    from connectors.aws import async_client
    from pipelines.synthetic import synthetic_records_with_pii

    count = int(config.rate * config.seconds)
    run_id = uuid.uuid4().hex[:8]
    stream, prefix = f"shardline-demo-{run_id}", f"curated/{run_id}"
    produced = list(itertools.islice(synthetic_records_with_pii("payments", seed=11), count))
    records = [record for record, _ in produced]
    pii = {record.id: values for record, values in produced} if config.job == "pii" else None
    with tempfile.TemporaryDirectory(prefix="shardline-demo-job-") as workdir:
        async def create() -> None:
            async with async_client("kinesis") as kinesis:
                await create_stream_and_wait(kinesis, stream, config.shards)
        asyncio.run(create())
        s3 = client("s3", AwsConfig(sdk_retries=3))
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=BUCKET)
        job, log = start_job(stream, prefix, Path(workdir), config)
        tally = S3Tally()
        try:
            started = time.monotonic()
            warmup = Record.new("demo.warmup", "demo", "warmup", {"n": 0})
            asyncio.run(produce_records(stream, [Record(**{**warmup.as_dict(), "id": f"warmup-{run_id}"})], None))
            wait_for(lambda: tally_s3(s3, prefix, tally).warmup_seen, config.job_start_timeout_s, job, log,
                     "waiting for the job to start")
            job_ready_s = time.monotonic() - started
            tally.produce_started_ms = time.time() * 1000
            produce_s = asyncio.run(produce_records(stream, records, config.rate, config.aggregate))
            wait_for(lambda: len(tally_s3(s3, prefix, tally, pii).ids) >= count, config.drain_timeout_s, job, log,
                     "waiting for every record to reach S3")
        except (TimeoutError, RuntimeError) as exc:
            stop_job(job)
            return summarise(count, tally, None, None, str(exc), config)
        stop_job(job)
    return summarise(count, tally, job_ready_s, produce_s, None, config)


def batching(config: DemoConfig) -> str:
    """What S3's side of the latency holds: a checkpoint interval on the SQL path, the batch age otherwise."""
    if job_module(config.job).endswith(("pii_job", "_sql_job")):
        return f"S3 objects written at each {config.checkpoint_interval_ms / 1000:g} s checkpoint"
    return f"the {config.s3_batch_max_age_s:g} s S3 batching"


def written_per_second(written: int, tally: S3Tally) -> float | None:
    """Records written a second from the first one produced to the last S3 object: what the job sustained, not
    what was offered.  It undercounts by the wait for the checkpoint after the last record, so runs of a few
    checkpoint intervals read low."""
    if not written or tally.produce_started_ms is None or tally.last_written_ms is None:
        return None
    span_s = (tally.last_written_ms - tally.produce_started_ms) / 1000
    return round(written / span_s, 1) if span_s > 0 else None


def summarise(produced: int, tally: S3Tally, job_ready_s: float | None, produce_s: float | None,
              error: str | None, config: DemoConfig = DemoConfig()) -> dict:
    written = len(tally.ids)
    p50, p99 = percentile(tally.latencies_ms, 50), percentile(tally.latencies_ms, 99)
    job = config.job
    masking = job == "pii"
    counts_agree = error is None and produced == written
    summary = {
        "job": job,
        "produced": produced,
        "consumed": len(tally.latencies_ms),  # records the job read and wrote (duplicates included)
        "written": written,
        "duplicates": len(tally.latencies_ms) - written,
        "s3_objects": len(tally.objects),
        "produce_seconds": round(produce_s, 2) if produce_s else None,
        "throughput_records_per_second": round(produced / produce_s, 1) if produce_s else None,
        "job_ready_seconds": round(job_ready_s, 1) if job_ready_s else None,
        "latency_p50_ms": round(p50, 1) if p50 is not None else None,
        "latency_p99_ms": round(p99, 1) if p99 is not None else None,
        "latency_max_ms": round(max(tally.latencies_ms), 1) if tally.latencies_ms else None,
        "written_records_per_second": written_per_second(written, tally),
        "pii_values_checked": tally.pii_checked if masking else None,
        "pii_values_left": tally.pii_left if masking else None,
        "counts_agree": counts_agree,
        "ok": counts_agree and tally.pii_left == 0,
        "error": error,
    }
    if not counts_agree:
        verdict = f"FAILED: {error or 'counts disagree'}"
    elif tally.pii_left:
        verdict = f"FAILED: {tally.pii_left} of the produced PII values reached S3 unmasked"
    else:
        verdict = "OK: every produced record is in S3" + (", masked" if masking else "")
    lines = [
        f"shardline demo: producer -> Kinesis (kinesalite) -> PyFlink {'PII masking' if masking else 'passthrough'} "
        "job -> S3 (moto)",
        f"  produced   {summary['produced']:>8}  at {summary['throughput_records_per_second']} records/s",
        f"  consumed   {summary['consumed']:>8}  (read by the Flink job and written, duplicates included)",
        f"  written    {summary['written']:>8}  distinct records in {summary['s3_objects']} S3 objects, "
        f"{summary['written_records_per_second']} records/s from the first produced to the last object",
    ]
    if masking:
        lines.append(f"  PII left   {tally.pii_left:>8}  of the {tally.pii_checked} SSNs, cards, phones, emails, IPs "
                     "and addresses produced (fields and notes)")
    lines += [
        f"  latency    p50 {summary['latency_p50_ms']} ms, p99 {summary['latency_p99_ms']} ms, "
        f"max {summary['latency_max_ms']} ms "
        f"(event time -> S3 object, including {batching(config)})",
        f"  job ready  {summary['job_ready_seconds']} s after submit",
        f"  result     {verdict}",
    ]
    summary["report"] = "\n".join(lines)
    return summary
