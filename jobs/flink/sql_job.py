"""What the SQL-path jobs share: the tables, the statement set, and how a job runs.

A job on this path reads ``shardline-kinesis`` in the ``shardline-envelope``
format, so Java decodes, validates, encodes and writes (Kinesis and S3); only
what a job's Python step needs crosses to the Python workers.  Each job gives a
``processed`` query: the envelope columns (``payload`` as JSON text) with
``error_type`` and ``reason`` set on a record its step refused, and the input's
``raw``, ``shard``, ``seq`` and ``sub`` for the dead letters.  Everything else
(outputs, dead letters with their position, checkpoints) is here, once.

Firehose gets OpenSearch bulk entries made in Java (``opensearch_bulk``, the
bytes the other engines' ``FirehoseSink`` sends); a record that cannot be one
(an id over OpenSearch's limit, an entry over Firehose's) goes to the dead
letters with the reason the other engines give, and the job carries on.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Callable

from connectors.flink import (FlinkConfig, firehose_table_options, kinesis_table_options, s3_table_options,
                              sql_string, table_environment, with_clause)
from jobs.flink.job_config import PipelineJobConfig

log = logging.getLogger("shardline.jobs.flink.sql")
ENVELOPE = ("`id` STRING, `type` STRING, `source` STRING, event_time BIGINT, partition_key STRING, "
            "`schema` STRING, payload STRING")
ENVELOPE_COLUMNS = "`id`, `type`, `source`, event_time, partition_key, `schema`"
POSITION_COLUMNS = "`raw`, shard, seq, sub"
LETTER = "reason STRING, error_type STRING, `source` STRING, attempts INT, `time` DOUBLE, data BYTES"
# Java functions in the connector jar.
JAVA_FUNCTIONS = {"opensearch_bulk": "dev.shardline.flink.firehose.OpenSearchBulk",
                  "kinesis_record_fit": "dev.shardline.flink.envelope.KinesisRecordFit",
                  "kinesis_letter_fits": "dev.shardline.flink.envelope.KinesisLetterFit"}


NOW = "CAST(UNIX_TIMESTAMP() AS DOUBLE)"
"""A dead letter's ``time``: when it was written, epoch seconds."""


def letter_select(reason: str, error_type: str, source: str, time: str, data: str, from_where: str) -> str:
    """A SELECT of dead letters (LETTER's columns, one attempt) from ``from_where``, each column SQL."""
    return (f"SELECT CAST({reason} AS STRING) AS reason, CAST({error_type} AS STRING) AS error_type, "
            f"{source} AS `source`, 1 AS attempts, {time} AS `time`, {data} AS data FROM {from_where}")


def dead_letter_statements(stream: str | None, s3_url: str,
                           sources: list[str]) -> tuple[list[str], tuple[str, str], list[str]]:
    """The tables, the ``letters`` view and the inserts that keep the letters ``sources`` select (each SELECT
    as ``letter_select`` writes it): JSON letters on a Kinesis stream, or JSON objects under an S3 prefix.  With a
    stream, the letters that may not fit one of its records (``kinesis_letter_fits``) go to S3: the Kinesis
    sink would fail the job on them, and the restored job again."""
    creates = [f"""CREATE TABLE dead_letters_s3 ({LETTER}) WITH ({with_clause(s3_table_options(
        s3_url, format="json", **{"partition.time-column": "time"}))})"""]
    view = ("letters", " UNION ALL ".join(f"({source})" for source in sources))
    if not stream:
        return creates, view, ["INSERT INTO dead_letters_s3 SELECT * FROM letters"]
    letters = with_clause(kinesis_table_options(stream, format="json"))
    creates.append(f"CREATE TABLE dead_letters ({LETTER}) WITH ({letters})")
    fits = "kinesis_letter_fits(reason, error_type, `source`, data)"
    return creates, view, [f"INSERT INTO dead_letters SELECT * FROM letters WHERE {fits}",
                           f"INSERT INTO dead_letters_s3 SELECT * FROM letters WHERE NOT {fits}"]


def kinesis_position(stream: str) -> str:
    """SQL for the position every engine writes, from the source's metadata columns:
    ``kinesis:<stream>/<shard>/<sequence>[:<sub-sequence>]`` (``pipelines.engine.kinesis_source``)."""
    return f"CONCAT('kinesis:{stream}/', shard, '/', seq, IF(sub > 0, CONCAT(':', CAST(sub AS STRING)), ''))"


def input_table(job, config: FlinkConfig | None = None, *, columns: str = "", **options: str) -> str:
    """``CREATE TABLE input``: ``job``'s input stream (its ``input_stream`` and ``source_*`` settings) in the
    ``shardline-envelope`` format, so Java decodes and validates each record (``error`` says why one is no
    envelope, ``raw`` keeps its bytes), with the shard, sequence and sub-sequence of each for its position;
    ``columns`` (SQL) adds computed columns and a watermark, ``options`` more WITH options."""
    source = {"format": "shardline-envelope", "source.init.position": job.source_init_position,
              "source.bounded": str(job.source_bounded).lower(), **options}
    if job.source_init_timestamp is not None:
        source["source.init.timestamp"] = repr(job.source_init_timestamp)
    # The metadata columns in the connector's own types: any other is a CAST, and the table as it comes (the
    # event-sourcing job's batcher reads its rows) would be a Calc, which copies every string it reads.
    return f"""CREATE TABLE input ({ENVELOPE}, `error` STRING, `raw` BYTES,
          shard VARCHAR(128) NOT NULL METADATA FROM 'shard-id' VIRTUAL,
          seq VARCHAR(128) NOT NULL METADATA FROM 'sequence-number' VIRTUAL,
          sub BIGINT NOT NULL METADATA FROM 'sub-sequence-number' VIRTUAL{f", {columns}" if columns else ""})
        WITH ({with_clause(kinesis_table_options(job.input_stream, config=config, **source))})"""


@dataclass(frozen=True)
class SqlJob:
    """One job on the SQL path: its ``processed`` query and how a dead letter's data is masked."""

    processed: str
    """SELECT over ``input`` (its records with ``error`` NULL), or over ``stepped``, giving the columns described
    above."""
    called: str | None = None
    """SELECT over ``input`` holding the job's Python call, registered as the view ``stepped`` (``called`` is
    reserved in Flink SQL) that ``processed`` reads: one shared Table, so the call runs once a record whatever
    reads it.  Everything after it is written into each output's own query, so each output takes one Calc
    after the call, not two (a shared ``processed`` was a Calc of its own, and every Calc copies each string
    it passes on: JFR of the PII job, 75 of 376 task-thread samples copying strings, 49 of 310 after)."""
    letter_data: str = "`raw`"
    """SQL for a dead letter's data from the input's ``raw`` bytes (a masking function, or as it is)."""
    can_refuse: bool = True
    """False when ``processed`` never sets ``error_type`` (no Python step): no dead-letter insert for it."""


@dataclass(frozen=True)
class Statements:
    """A job's SQL: tables, then views (each one shared Table, in order), then the inserts of its statement set."""

    creates: list[str]
    views: list[tuple[str, str]]
    inserts: list[str]


def statements(job: PipelineJobConfig, sql_job: SqlJob) -> Statements:
    """The SQL for ``job``'s properties; the first view, if any, is ``stepped`` (the Python step); ``outputs``
    (the processed records, with those that do not fit a Kinesis record refused) is a subquery of each insert
    and view that reads it, not a Table of its own."""
    creates = [input_table(job)]
    views = [("stepped", sql_job.called)] if sql_job.called else []
    if sql_job.can_refuse:
        # An output must fit one Kinesis record, as RecordPath checks on every engine: a step may lengthen it.
        # A scalar Java function, so it folds into the Calc after the Python step; the Firehose view's table
        # function below is read for three columns.
        outputs = f"""(SELECT {ENVELOPE_COLUMNS}, payload,
            COALESCE(error_type, fit.error_type) AS error_type, COALESCE(reason, fit.reason) AS reason,
            {POSITION_COLUMNS} FROM (SELECT *, kinesis_record_fit(`id`, `type`, `source`, event_time,
            partition_key, `schema`, payload) AS fit FROM ({sql_job.processed})))"""
    else:
        outputs = f"({sql_job.processed})"
    good = f"SELECT {ENVELOPE_COLUMNS}, payload FROM {outputs} WHERE error_type IS NULL"
    inserts = []
    if job.output_stream:
        creates.append(f"""CREATE TABLE output_stream ({ENVELOPE}) PARTITIONED BY (partition_key)
            WITH ({with_clause(kinesis_table_options(job.output_stream, format='shardline-envelope'))})""")
        inserts.append(f"INSERT INTO output_stream {good}")
    if job.output_s3:
        creates.append(f"""CREATE TABLE output_s3 ({ENVELOPE})
            WITH ({with_clause(s3_table_options(job.output_s3, format='shardline-envelope'))})""")
        inserts.append(f"INSERT INTO output_s3 {good}")
    position, now = kinesis_position(job.input_stream), NOW

    def letters_from(view: str) -> str:
        return letter_select("reason", "error_type", position, now, sql_job.letter_data,
                             f"{view} WHERE error_type IS NOT NULL")
    letters = [letter_select("`error`", "'RecordValidationError'", position, now, sql_job.letter_data,
                             "input WHERE `error` IS NOT NULL")]
    if sql_job.can_refuse:
        letters.append(letters_from(outputs))
    if job.output_firehose:
        flush_ms = str(max(1, round(job.firehose_batch_max_age_s * 1000)))
        creates.append(f"""CREATE TABLE output_firehose (entry BYTES) WITH ({with_clause(firehose_table_options(
            job.output_firehose, format='raw', **{'sink.flush-buffer.timeout': flush_ms}))})""")
        views.append(("firehose_entries", f"""SELECT entry, bulk_error_type AS error_type, bulk_reason AS reason,
            {POSITION_COLUMNS} FROM (SELECT * FROM {outputs} WHERE error_type IS NULL),
            LATERAL TABLE(opensearch_bulk({sql_string(job.output_firehose_index)}, `id`, `type`, `source`,
            event_time, partition_key, `schema`, payload)) AS b(entry, bulk_error_type, bulk_reason)"""))
        inserts.append("INSERT INTO output_firehose SELECT entry FROM firehose_entries WHERE error_type IS NULL")
        letters.append(letters_from("firehose_entries"))
    letter_tables, letter_view, letter_inserts = dead_letter_statements(job.dead_letter_stream,
                                                                        job.dead_letter_s3_url, letters)
    creates += letter_tables
    views.append(letter_view)
    inserts += letter_inserts
    return Statements(creates, views, inserts)


def statement_set(t_env, job: PipelineJobConfig, sql_job: SqlJob):
    """The job's tables and its one statement set, in ``t_env`` (its functions registered already)."""
    sql = statements(job, sql_job)
    for name, java_class in JAVA_FUNCTIONS.items():
        t_env.create_java_temporary_function(name, java_class)
    for statement in sql.creates:
        t_env.execute_sql(statement)
    # A view made by CREATE VIEW is expanded into each INSERT and optimized with it, so every output would run
    # the Python step again (measured: masking twice a record).  A view of one Table is one shared sub-plan.
    for name, query in sql.views:
        t_env.create_temporary_view(name, t_env.sql_query(query))
    statements_to_run = t_env.create_statement_set()
    for statement in sql.inserts:
        statements_to_run.add_insert_sql(statement)
    return statements_to_run


def run_sql_job(job: PipelineJobConfig, sql_job: SqlJob, register: Callable[[object], None], name: str) -> None:
    """Create the tables, let ``register`` add the job's functions, and run the statement set as job ``name``."""
    flink = job.flink_config()
    # Object reuse: without it every row is deep-copied for each operator it fans out to (a seventh of the JVM's
    # time with no Python, JFR).  Safe here: the SQL runtime reuses rows by design, the Python operators copy
    # what they keep, and our sinks encode a row when it arrives.
    t_env = table_environment(replace(flink, extra={**flink.extra, "pipeline.name": name,
                                                    "pipeline.object-reuse": "true"}))
    register(t_env)
    log.info("event=job_submit engine=sql job=%s input=%s output_stream=%s output_s3=%s output_firehose=%s "
             "bounded=%s", name, job.input_stream, job.output_stream, job.output_s3, job.output_firehose,
             job.source_bounded)
    result = statement_set(t_env, job, sql_job).execute()
    if not (flink.managed or flink.submitted):
        # Locally the job runs in this process's mini cluster, which ends with it: wait (to the end of a
        # bounded input; until stopped otherwise).  A cluster or the service owns a submitted job.
        result.wait()
