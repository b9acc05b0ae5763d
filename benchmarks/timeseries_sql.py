"""The baseline of ``shardline bench timeseries``: the same windows in pure Flink SQL, all in the JVM.

It reads the same stream in the envelope format, takes the reading's fields with ``JSON_VALUE`` and its
event time with ``reading_time`` for the watermark, and writes ``window_stats`` windows (the same aggregates, bit for bit) to the
same DynamoDB table: no Python, no duplicates dropped, no readings checked, no detector.  What the pattern's
job costs beyond this is what cleaning, enrichment and detection cost.

    python -m benchmarks.timeseries_sql --properties app.json   (group shardline: input.stream,
        aggregate.table, ts.window_s, parallelism, source.bounded, checkpoint.interval.ms)
"""
from __future__ import annotations

import argparse
from dataclasses import replace

from connectors.flink import (FlinkConfig, application_properties, aws_table_options, kinesis_table_options,
                              table_environment, with_clause)


def statements(group: dict[str, str]) -> tuple[list[str], str]:
    window_ms = round(float(group.get("ts.window_s", "60")) * 1000)
    source = kinesis_table_options(group["input.stream"], format="shardline-envelope",
                                   **{"source.init.position": "TRIM_HORIZON",
                                      "source.bounded": group.get("source.bounded", "false")})
    creates = [f"""CREATE TABLE input (payload STRING, `error` STRING,
            ts AS reading_time(payload, CAST(86400000 AS BIGINT)),
            WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) WITH ({with_clause(source)})""",
               f"""CREATE TABLE windows (series STRING, window_start BIGINT, window_end BIGINT, `count` BIGINT,
            `min` DOUBLE, `max` DOUBLE, mean DOUBLE, p95 DOUBLE) PARTITIONED BY (series, window_start)
            WITH ({with_clause({'connector': 'shardline-dynamodb', 'table-name': group['aggregate.table'],
                                **aws_table_options('dynamodb')})})"""]
    insert = f"""INSERT INTO windows SELECT series, epoch_ms(window_start), epoch_ms(window_end), s.`count`,
        s.`min`, s.`max`, s.mean, s.p95 FROM (
          SELECT series, window_start, window_end, window_stats(`value`) AS s FROM TABLE(TUMBLE(TABLE readings,
            DESCRIPTOR(ts), INTERVAL '{window_ms // 1000}' SECOND)) GROUP BY series, window_start, window_end)"""
    return creates, insert


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--properties", required=True)
    group = dict(application_properties(parser.parse_args(argv).properties)["shardline"])
    flink = FlinkConfig(parallelism=int(group.get("parallelism", "1")),
                        checkpoint_interval_ms=int(group.get("checkpoint.interval.ms", "10000")))
    t_env = table_environment(replace(flink, extra={**flink.extra, "pipeline.name": "timeseries-sql-baseline",
                                                    "pipeline.object-reuse": "true"}))
    t_env.create_java_temporary_function("reading_time", "dev.shardline.flink.timeseries.ReadingTime")
    t_env.create_java_temporary_function("window_stats", "dev.shardline.flink.timeseries.WindowStats")
    t_env.create_java_temporary_function("epoch_ms", "dev.shardline.flink.timeseries.EpochMillis")
    creates, insert = statements(group)
    for statement in creates:
        t_env.execute_sql(statement)
    t_env.create_temporary_view("readings", t_env.sql_query(
        "SELECT CONCAT(JSON_VALUE(payload, '$.device_id'), '/', JSON_VALUE(payload, '$.metric')) AS series, "
        "JSON_VALUE(payload, '$.value' RETURNING DOUBLE) AS `value`, ts FROM input WHERE `error` IS NULL"))
    t_env.execute_sql(insert).wait()


if __name__ == "__main__":
    main()
