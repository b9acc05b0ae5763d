"""The time-series Flink job's properties and SQL, without running Flink."""
import pytest

from jobs.flink.timeseries_config import TimeseriesJobConfig
from jobs.flink.timeseries_job import statements

BASE = {"input.stream": "telemetry", "aggregate.table": "windows", "dead_letter.s3": "s3://lake/dead-letters"}


def test_properties_set_the_pattern_with_the_names_ts_run_reads():
    job = TimeseriesJobConfig.from_properties({**BASE, "ts.window_s": "30", "ts.slide_s": "10",
                                               "ts.valid_ranges": '{"temperature": [-50, 150]}',
                                               "alert.stream": "alerts", "source.bounded": "true"})
    assert (job.pattern.window_ms, job.pattern.slide_ms, job.pattern.valid_ranges) == (
        30_000, 10_000, {"temperature": (-50.0, 150.0)})
    creates, views, inserts = statements(job)
    sql = "\n".join(creates + [query for _, query in views] + inserts)
    assert "HOP(TABLE clean, DESCRIPTOR(rowtime), INTERVAL '10' SECOND, INTERVAL '30' SECOND)" in sql
    assert "WATERMARK FOR ts AS ts - INTERVAL '5' SECOND" in sql and "'scan.watermark.idle-timeout'" in sql
    assert "'connector' = 'shardline-dynamodb'" in sql and "PARTITIONED BY (series, window_start)" in sql
    letters = dict(views)["letters"]
    assert "'RecordValidationError'" in letters and "'ReadingError'" in letters and "UNION ALL" in letters
    assert [insert for insert in inserts if "dead_letters" in insert] == ["INSERT INTO dead_letters_s3 SELECT * FROM letters"]
    assert any(insert.startswith("INSERT INTO alert_stream") for insert in inserts)


@pytest.mark.parametrize("properties, message", [
    ({"ts.window": "30"}, "unknown keys ['ts.window']"),
    ({"ts.detector": "ewma"}, "the Flink job runs the mad detector"),
    ({"ts.valid_ranges": "[1, 2"}, "expected JSON"),
    ({"dead_letter.s3": ""}, "set dead_letter.s3 or dead_letter.stream"),
])
def test_a_bad_property_is_refused_naming_it(properties, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        TimeseriesJobConfig.from_properties({**BASE, **properties})


def test_the_required_keys_are_named():
    with pytest.raises(ValueError, match="aggregate.table is required"):
        TimeseriesJobConfig.from_properties({"input.stream": "t", "dead_letter.s3": "s3://b/d"})
