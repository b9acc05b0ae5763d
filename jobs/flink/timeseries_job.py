"""The time-series pattern as a Flink job: Kinesis readings to windows in DynamoDB, alerts, raw and late in S3.

What runs where, per record:

- ``shardline-kinesis`` reads the stream in the envelope format; ``reading_time`` (Java) takes the reading's
  event time from the payload for the watermark (``ts``, trailing by out-of-orderness plus lateness);
- ``check_reading`` (Python, the one Python step a record takes) checks the reading with the rules every
  engine runs (``pipelines.timeseries.readings``) and joins its device's metadata, reloaded on an interval;
- ``series_step`` (a Java process table function, partitioned by series) drops duplicates, sends late
  readings to their side output and scores readings in event-time order with the MAD detector;
- a windowing TVF (TUMBLE, or HOP with ``ts.slide_s``) with ``window_stats`` (Java) makes the windows, which
  go to DynamoDB (``shardline-dynamodb``, keyed by series and window start).

Alerts go to ``alert.stream``, clean readings to ``raw.s3``, late ones to ``late.s3``; records that are no
reading go to the dead letters with the reasons the other engines give, masked with the generic PII policy.
The outputs are those of the local runner and the KCL processor, record for record (a test).

Run locally:  python -m jobs.flink.timeseries_job --properties app.json
"""
from __future__ import annotations

import json
import logging

from pyflink.table import DataTypes
from pyflink.table.udf import ScalarFunction, udf

from connectors.flink import (aws_table_options, kinesis_table_options, s3_table_options, sql_string, table_environment,
                              with_clause)
from jobs.flink.job_config import job_properties
from jobs.flink.pii_job import MaskLetter
from jobs.flink.sql_job import ENVELOPE, NOW, dead_letter_statements, input_table, kinesis_position, letter_select
from jobs.flink.timeseries_config import TimeseriesJobConfig

log = logging.getLogger("shardline.jobs.flink.timeseries")
JAVA_FUNCTIONS = {"reading_time": "dev.shardline.flink.timeseries.ReadingTime",
                  "plain_reading": "dev.shardline.flink.timeseries.PlainReading",
                  "series_step": "dev.shardline.flink.timeseries.SeriesStep",
                  "window_stats": "dev.shardline.flink.timeseries.WindowStats",
                  "epoch_ms": "dev.shardline.flink.timeseries.EpochMillis",
                  "kinesis_letter_fits": "dev.shardline.flink.envelope.KinesisLetterFit"}
CHECKED = ("device_id", "metric", "value", "event_ms", "raw_payload", "site", "model", "owner_team", "error_type",
           "reason")
WINDOW_COLUMNS = ("series STRING, device_id STRING, metric STRING, window_start BIGINT, window_end BIGINT, "
                  "`count` BIGINT, `min` DOUBLE, `max` DOUBLE, mean DOUBLE, p95 DOUBLE")
SOURCE = "'shardline.timeseries'"


class CheckReading(ScalarFunction):
    """``check_reading(payload JSON) -> ROW``: the reading's fields, its raw-store payload and its device, or
    why it is no reading (``pipelines.timeseries.readings``: the reasons every engine gives)."""

    def __init__(self, max_future_ms: int, valid_ranges: dict, devices: str | None, refresh_s: float,
                 with_raw: bool = True) -> None:
        self.with_raw = with_raw
        self.max_future_ms = max_future_ms
        self.valid_ranges = valid_ranges
        self.devices_spec = devices
        self.refresh_s = refresh_s

    def open(self, function_context) -> None:
        # Bound here once: imports inside eval cost a lookup each, a record.
        import time

        from jobs.flink.workers import result_row
        from pipelines.engine import rejection
        from pipelines.errors import FieldError
        from pipelines.records import payload_from_json, payload_to_json
        from pipelines.timeseries.enrich import DeviceCatalog
        from pipelines.timeseries.outputs import reading_record
        from pipelines.timeseries.pattern import UNKNOWN_DEVICE, EnrichedReading
        from pipelines.timeseries.readings import parse_reading

        self._now, self._row = time.time, result_row
        self._rejection, self._from_json, self._to_json = rejection, payload_from_json, payload_to_json
        self._record, self._unknown, self._enriched = reading_record, UNKNOWN_DEVICE, EnrichedReading
        # FieldError: ReadingError, and the payload's own refusals (a lone surrogate in it, say).
        self._error, self._parse = FieldError, parse_reading
        self.devices = None
        if self.devices_spec:
            from connectors.timeseries_devices import device_loader

            self.devices = DeviceCatalog(device_loader(self.devices_spec), self.refresh_s)

    def eval(self, payload_json: str):
        if payload_json is None:  # not an envelope: its dead letter comes from the source's error column
            return self._row(*(None,) * len(CHECKED))
        try:
            reading = self._parse(self._from_json(payload_json), int(self._now() * 1000), self.max_future_ms,
                                  self.valid_ranges)
        except self._error as exc:
            rejected = self._rejection(exc, "validate")
            return self._row(None, None, None, None, None, None, None, None, rejected.error_type, rejected.reason)
        device = self.devices.lookup(reading.device_id) if self.devices is not None else None
        enriched = self._enriched(reading, device or self._unknown, device is not None)
        raw = self._to_json(self._record(enriched).payload) if self.with_raw else None
        return self._row(reading.device_id, reading.metric, reading.value, reading.event_time, raw,
                         enriched.device.site, enriched.device.model, enriched.device.owner_team, None, None)


def statements(job: TimeseriesJobConfig) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """(CREATE TABLEs, views in order, INSERTs of the one statement set) for ``job``."""
    pattern = job.pattern
    # Each shard has its own watermark (pushed into the source); a shard that has had no record for this long
    # stops holding the others back.
    idle = {"scan.watermark.idle-timeout": f"{round(job.source_idle_timeout_s * 1000)} ms"}
    creates = [input_table(job, columns=f"""ts AS reading_time(payload, CAST({round(pattern.max_future_s * 1000)}
          AS BIGINT)), WATERMARK FOR ts AS ts - {_interval(pattern.delay_ms)}""", **idle),
               f"""CREATE TABLE windows ({WINDOW_COLUMNS}) PARTITIONED BY (series, window_start)
        WITH ({with_clause({'connector': 'shardline-dynamodb', 'table-name': job.aggregate_table,
                            'sink.ignore-nulls': 'true', **aws_table_options('dynamodb')})})"""]
    checked_columns = ", ".join(f"c.{name} AS {name}" if name != "value" else "c.`value` AS `value`"
                                for name in CHECKED)
    # A reading whose time the JVM read otherwise than Python (an ISO form only one of them takes) is no reading.
    checked_readings = """SELECT CONCAT(device_id, '/', metric) AS series, device_id, metric, `value`, event_ms,
        raw_payload, site, model, owner_team, ts FROM checked
        WHERE `error` IS NULL AND error_type IS NULL AND event_ms = epoch_ms(ts)"""
    if job.devices or job.raw_s3:
        # Every reading needs Python: its device's metadata, or its raw-store payload.  Every record passes
        # here once, so one watermark assigner serves all (a branch of its own off `input` would compute the
        # row time again).
        views = [("checked", f"""SELECT {checked_columns}, ts, `error`, `raw`, shard, seq, sub FROM
                     (SELECT *, check_reading(payload) AS c FROM input)"""),
                 ("readings", checked_readings)]
    else:
        # Nothing to enrich: a reading the Java side can prove plain (plain_reading: epoch-ms time, flat, in
        # range) skips Python, which checks only the rest and gives their reasons.  Measured: the Python hop was
        # most of the pattern's cost (bench timeseries).
        max_future = f"CAST({round(pattern.max_future_s * 1000)} AS BIGINT)"
        ranges = json.dumps({metric: list(bounds) for metric, bounds in pattern.valid_ranges.items()})
        views = [("parsed", f"""SELECT i.*, COALESCE(p.plain AND p.event_ms = epoch_ms(i.ts), FALSE) AS fast,
                     p.device_id AS fast_device_id, p.metric AS fast_metric, p.`value` AS fast_value,
                     p.event_ms AS fast_event_ms FROM input AS i,
                     LATERAL TABLE(plain_reading(i.payload, {max_future}, {sql_string(ranges)}))
                       AS p(plain, device_id, metric, `value`, event_ms)"""),
                 ("checked", f"""SELECT {checked_columns}, ts, `error`, `raw`, shard, seq, sub FROM
                     (SELECT *, check_reading(payload) AS c FROM parsed WHERE NOT fast)"""),
                 ("readings", f"""{checked_readings} UNION ALL
                     SELECT CONCAT(fast_device_id, '/', fast_metric), fast_device_id, fast_metric, fast_value,
                       fast_event_ms, CAST(NULL AS STRING), CAST(NULL AS STRING), CAST(NULL AS STRING),
                       CAST(NULL AS STRING), ts FROM parsed WHERE fast""")]
    views += [
        ("steps", f"""SELECT * FROM series_step(input => TABLE readings PARTITION BY series,
            on_time => DESCRIPTOR(ts), slide_ms => CAST({pattern.slide_ms} AS BIGINT),
            history => {pattern.detector_history}, min_history => {pattern.detector_min_history},
            threshold => CAST({pattern.detector_threshold!r} AS DOUBLE))"""),
        ("clean", "SELECT series, `value`, payload, event_ms, rowtime FROM steps WHERE kind = 'reading'"),
    ]
    size, slide = _interval(pattern.window_ms), _interval(pattern.slide_ms)
    window = (f"TUMBLE(TABLE clean, DESCRIPTOR(rowtime), {size})" if pattern.slide_s is None
              else f"HOP(TABLE clean, DESCRIPTOR(rowtime), {slide}, {size})")
    inserts = [f"""INSERT INTO windows SELECT series, SPLIT_INDEX(series, '/', 0),
        SUBSTRING(series FROM POSITION('/' IN series) + 1), epoch_ms(window_start), epoch_ms(window_end),
        s.`count`, s.`min`, s.`max`, s.mean, s.p95 FROM (
          SELECT series, window_start, window_end, window_stats(`value`) AS s FROM TABLE({window})
          GROUP BY series, window_start, window_end)"""]
    envelope_outputs = (("alert_stream", "anomaly", "timeseries.anomaly", "series"),
                        ("raw_s3", "reading", "timeseries.reading", "SPLIT_INDEX(series, '/', 0)"),
                        ("late_s3", "late", "timeseries.late", "SPLIT_INDEX(series, '/', 0)"))
    for setting, kind, record_type, key in envelope_outputs:
        target = getattr(job, setting)
        if not target:
            continue
        options = (kinesis_table_options(target, format="shardline-envelope") if setting == "alert_stream"
                   else s3_table_options(target, format="shardline-envelope"))
        partitioned = " PARTITIONED BY (partition_key)" if setting == "alert_stream" else ""
        creates.append(f"CREATE TABLE {setting} ({ENVELOPE}){partitioned} WITH ({with_clause(options)})")
        inserts.append(f"""INSERT INTO {setting} SELECT CONCAT('{kind}:', series, ':', CAST(event_ms AS STRING)),
            '{record_type}', {SOURCE}, event_ms, {key}, CAST(NULL AS STRING), payload
            FROM steps WHERE kind = '{kind}'""")
    position, now = kinesis_position(job.input_stream), NOW
    refused = ("COALESCE(reason, 'field ''event_time'': not a time this engine reads the same way; use epoch "
               "milliseconds or ISO 8601 with a UTC offset')")
    letter_tables, letter_view, letter_inserts = dead_letter_statements(job.dead_letter_stream, job.dead_letter_s3, [
        letter_select("`error`", "'RecordValidationError'", position, now, "mask_letter(`raw`)",
                      "checked WHERE `error` IS NOT NULL"),
        letter_select(refused, "COALESCE(error_type, 'ReadingError')", position, now, "mask_letter(`raw`)",
                      "checked WHERE `error` IS NULL AND (error_type IS NOT NULL OR event_ms <> epoch_ms(ts))")])
    creates += letter_tables
    views.append(letter_view)
    inserts += letter_inserts
    return creates, views, inserts


def _interval(millis: int) -> str:
    """A day-time interval literal of ``millis`` (whole seconds when it has no milliseconds)."""
    if millis % 1000 == 0:
        return f"INTERVAL '{millis // 1000}' SECOND"
    return f"INTERVAL '{millis / 1000:.3f}' SECOND(3)"


def register(t_env, job: TimeseriesJobConfig) -> None:
    for name, java_class in JAVA_FUNCTIONS.items():
        t_env.create_java_temporary_function(name, java_class)
    checked = DataTypes.ROW([DataTypes.FIELD("device_id", DataTypes.STRING()),
                             DataTypes.FIELD("metric", DataTypes.STRING()),
                             DataTypes.FIELD("value", DataTypes.DOUBLE()),
                             DataTypes.FIELD("event_ms", DataTypes.BIGINT()),
                             *(DataTypes.FIELD(name, DataTypes.STRING()) for name in CHECKED[4:])])
    pattern = job.pattern
    t_env.create_temporary_function("check_reading", udf(
        CheckReading(round(pattern.max_future_s * 1000), dict(pattern.valid_ranges), job.devices,
                     job.devices_refresh_s, with_raw=bool(job.raw_s3)), result_type=checked))
    t_env.create_temporary_function("mask_letter", udf(MaskLetter(), result_type=DataTypes.BYTES()))


def run(job: TimeseriesJobConfig) -> None:
    from dataclasses import replace

    flink = job.flink_config()
    t_env = table_environment(replace(flink, extra={**flink.extra, "pipeline.name": "shardline-timeseries",
                                                    "pipeline.object-reuse": "true"}))
    register(t_env, job)
    creates, views, inserts = statements(job)
    for statement in creates:
        t_env.execute_sql(statement)
    for name, query in views:
        t_env.create_temporary_view(name, t_env.sql_query(query))
    statement_set = t_env.create_statement_set()
    for statement in inserts:
        statement_set.add_insert_sql(statement)
    log.info("event=job_submit engine=sql job=shardline-timeseries input=%s aggregate_table=%s bounded=%s",
             job.input_stream, job.aggregate_table, job.source_bounded)
    result = statement_set.execute()
    if not (flink.managed or flink.submitted):
        result.wait()


def main(argv: list[str] | None = None) -> None:
    run(TimeseriesJobConfig.from_properties(job_properties(argv, __doc__.split("\n")[0])))


if __name__ == "__main__":
    from jobs.flink.timeseries_job import main as job_main  # by name: its functions pickle by reference

    job_main()
