"""Our PyFlink jobs as local processes, and records produced into their input stream.

The demo and the PyFlink benchmark both start a job this way: a property file
in Managed Flink's format, then ``python -m <job module>`` in its own process
session, so the job, its JVM and its Python workers stop (or are measured) as
one.  The jobs are named by module: nothing here imports them.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from pipelines.records import Record

JOBS = {"pii": "jobs.flink.pii_job", "pii-datastream": "jobs.flink.pii_datastream_job",
        "pipeline": "jobs.flink.pipeline_sql_job", "passthrough": "jobs.flink.pipeline_sql_job",
        "pipeline-sql": "jobs.flink.pipeline_sql_job", "pipeline-datastream": "jobs.flink.pipeline_job",
        "timeseries": "jobs.flink.timeseries_job"}
# The PII job's keys for the demo: fixed, so that a run's tokens (and the check below) are the same every
# time.  Derived from public labels, so they protect nothing: never use them for real data.
DEMO_KEYS = {name: hashlib.sha256(f"shardline demo {name} key".encode()).hexdigest()[:chars]
             for name, chars in (("hmac", 64), ("fpe", 32))}
def job_module(job: str) -> str:
    """The module of the demo's PyFlink job named ``job``; ValueError naming the choices for another name."""
    if job not in JOBS:
        raise ValueError(f"unknown demo job {job!r}; choose one of {', '.join(JOBS)}")
    return JOBS[job]



def write_job_properties(job: str, group: dict[str, str], workdir: Path, name: str = "application") -> Path:
    """Write the job's property file (Managed Flink's format) into ``workdir``; the PII job gets the
    payments policy and the demo keys, as key files the way a deployed job reads them."""
    group = dict(group)
    if job in ("pii", "pii-datastream"):
        group["pii.policy"] = "payments"
        for key_name, key in DEMO_KEYS.items():
            key_file = workdir / f"pii-{key_name}.hex"
            key_file.write_text(key + "\n")
            key_file.chmod(0o600)
            group[f"pii.keys.{key_name}.file"] = str(key_file)
    path = workdir / f"{name}_properties.json"
    path.write_text(json.dumps([{"PropertyGroupId": "shardline", "PropertyMap": group}]))
    return path


def launch_job(job: str, properties: Path, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the PyFlink job in its own session (so it and its JVM and workers can be stopped, or measured, as one),
    with ``env`` over this process's environment."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", job_module(job), "--properties", str(properties)],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})


async def produce_records(stream: str, records: list[Record], rate: float | None, aggregate: bool = False) -> float:
    from connectors.kinesis.producer import KinesisProducer, ProducerConfig
    from pipelines.records import to_avro

    started = time.monotonic()
    async with KinesisProducer(ProducerConfig(stream_name=stream, aggregate=aggregate)) as producer:
        for index, record in enumerate(records):
            if rate:
                delay = started + index / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            # event_time is stamped when the record leaves, so latency is end to end.
            stamped = Record(id=record.id, type=record.type, source=record.source,
                             partition_key=record.partition_key, payload=record.payload,
                             event_time=int(time.time() * 1000), schema=record.schema)
            await producer.put(to_avro(stamped), stamped.partition_key)
    return time.monotonic() - started
