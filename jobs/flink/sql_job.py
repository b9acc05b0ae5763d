"""What the SQL-path jobs share: the tables, the statement set, and how a job runs.

A job on this path reads ``shardline-kinesis`` in the ``shardline-envelope``
format, so Java decodes, validates, encodes and writes (Kinesis and S3); only
what a job's Python step needs crosses to the Python workers.  Each job gives a
``processed`` view: the envelope columns (``payload`` as JSON text) with
``error_type`` and ``reason`` set on a record its step refused, and the input's
``raw``, ``shard``, ``seq`` and ``sub`` for the dead letters.  Everything else
(outputs, dead letters with their position, checkpoints) is here, once.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from connectors.flink import kinesis_table_options, s3_table_options, table_environment, with_clause
from jobs.flink.job_config import PipelineJobConfig

log = logging.getLogger("shardline.jobs.flink.sql")
ENVELOPE = ("`id` STRING, `type` STRING, `source` STRING, event_time BIGINT, partition_key STRING, "
            "`schema` STRING, payload STRING")
ENVELOPE_COLUMNS = "`id`, `type`, `source`, event_time, partition_key, `schema`"
POSITION_COLUMNS = "`raw`, shard, seq, sub"
LETTER = "reason STRING, error_type STRING, `source` STRING, attempts INT, `time` DOUBLE, data BYTES"


@dataclass(frozen=True)
class SqlJob:
    """One job on the SQL path: its ``processed`` view and how a dead letter's data is masked."""

    processed: str
    """SELECT over ``input`` (its records with ``error`` NULL) giving the columns described above."""
    letter_data: str = "`raw`"
    """SQL for a dead letter's data from the input's ``raw`` bytes (a masking function, or as it is)."""
    can_refuse: bool = True
    """False when ``processed`` never sets ``error_type`` (no Python step): no dead-letter insert for it."""


def statements(job: PipelineJobConfig, sql_job: SqlJob) -> tuple[list[str], list[str]]:
    """(the CREATE TABLE statements, the INSERT statements of the one statement set) for ``job``'s properties;
    the inserts read ``input`` and the ``processed`` view (``statement_set`` creates it)."""
    source_options = {"format": "shardline-envelope", "source.init.position": job.source_init_position,
                      "source.bounded": str(job.source_bounded).lower()}
    if job.source_init_timestamp is not None:
        source_options["source.init.timestamp"] = repr(job.source_init_timestamp)
    creates = [f"""CREATE TABLE input ({ENVELOPE}, `error` STRING, `raw` BYTES,
          shard STRING METADATA FROM 'shard-id' VIRTUAL, seq STRING METADATA FROM 'sequence-number' VIRTUAL,
          sub BIGINT METADATA FROM 'sub-sequence-number' VIRTUAL)
        WITH ({with_clause(kinesis_table_options(job.input_stream, **source_options))})"""]
    good = f"SELECT {ENVELOPE_COLUMNS}, payload FROM processed WHERE error_type IS NULL"
    inserts = []
    if job.output_stream:
        creates.append(f"""CREATE TABLE output_stream ({ENVELOPE}) PARTITIONED BY (partition_key)
            WITH ({with_clause(kinesis_table_options(job.output_stream, format='shardline-envelope'))})""")
        inserts.append(f"INSERT INTO output_stream {good}")
    if job.output_s3:
        creates.append(f"""CREATE TABLE output_s3 ({ENVELOPE})
            WITH ({with_clause(s3_table_options(job.output_s3, format='shardline-envelope'))})""")
        inserts.append(f"INSERT INTO output_s3 {good}")
    if job.dead_letter_stream:
        letters = kinesis_table_options(job.dead_letter_stream, format="json")
    else:
        letters = s3_table_options(job.dead_letter_s3_url, format="json", **{"partition.time-column": "time"})
    creates.append(f"CREATE TABLE dead_letters ({LETTER}) WITH ({with_clause(letters)})")
    # The position every engine writes: kinesis:<stream>/<shard>/<sequence>[:<sub-sequence>].
    position = (f"CONCAT('kinesis:{job.input_stream}/', shard, '/', seq, "
                "IF(sub > 0, CONCAT(':', CAST(sub AS STRING)), ''))")
    now = "CAST(UNIX_TIMESTAMP() AS DOUBLE)"
    inserts.append(f"INSERT INTO dead_letters SELECT `error`, 'RecordValidationError', {position}, 1, {now}, "
                   f"{sql_job.letter_data} FROM input WHERE `error` IS NOT NULL")
    if sql_job.can_refuse:
        inserts.append(f"INSERT INTO dead_letters SELECT reason, error_type, {position}, 1, {now}, "
                       f"{sql_job.letter_data} FROM processed WHERE error_type IS NOT NULL")
    return creates, inserts


def statement_set(t_env, job: PipelineJobConfig, sql_job: SqlJob):
    """The job's tables and its one statement set, in ``t_env`` (its functions registered already)."""
    creates, inserts = statements(job, sql_job)
    for statement in creates:
        t_env.execute_sql(statement)
    # A view made by CREATE VIEW is expanded into each INSERT and optimized with it, so every output would run
    # the Python step again (measured: masking twice a record).  A view of one Table is one shared sub-plan.
    t_env.create_temporary_view("processed", t_env.sql_query(sql_job.processed))
    statements_to_run = t_env.create_statement_set()
    for statement in inserts:
        statements_to_run.add_insert_sql(statement)
    return statements_to_run


def run_sql_job(job: PipelineJobConfig, sql_job: SqlJob, register: Callable[[object], None], name: str) -> None:
    """Create the tables, let ``register`` add the job's functions, and run the statement set (to the end when
    the source is bounded)."""
    if job.output_firehose:
        raise SystemExit(f"output.firehose is not on the SQL path yet: run the DataStream job for {name}")
    t_env = table_environment(job.flink_config())
    register(t_env)
    log.info("event=job_submit engine=sql job=%s input=%s output_stream=%s output_s3=%s bounded=%s", name,
             job.input_stream, job.output_stream, job.output_s3, job.source_bounded)
    result = statement_set(t_env, job, sql_job).execute()
    if job.source_bounded:
        result.wait()
