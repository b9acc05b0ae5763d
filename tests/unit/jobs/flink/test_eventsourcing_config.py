"""The event-sourcing Flink job's properties, without running Flink."""
from decimal import Decimal

import pytest

from jobs.flink.eventsourcing_config import EventSourcingJobConfig
from connectors.flink import FlinkConfig, environment_settings

BASE = {"input.stream": "events", "projection.table": "accounts", "dead_letter.stream": "events-dlq",
        "dead_letter.s3": "s3://lake/dlq"}


def test_properties_set_the_job_and_the_pattern_with_the_names_es_run_reads():
    job = EventSourcingJobConfig.from_properties({
        **BASE, "totals.table": "branches", "derived.stream": "derived", "derived.exactly_once": "false",
        "es.gap_timeout_s": "45", "es.large_withdrawal": "2500.50", "es.remembered_event_ids": "20",
        "es.max_held_events": "7", "source.init.position": "AT_TIMESTAMP", "source.init.timestamp": "1767225600",
        "source.bounded": "true", "parallelism": "3", "checkpoint.interval.ms": "5000", "projection.flush.ms": "0",
        "state.cache.size": "0", "apply.buckets": "8", "apply.batch.records": "100", "apply.batch.ms": "50"})
    assert (job.totals_table, job.derived_stream, job.derived_exactly_once) == ("branches", "derived", False)
    assert (job.projection_flush_ms, job.state_cache_size) == (0, 0)
    assert (job.apply_buckets, job.apply_batch_records, job.apply_batch_ms) == (8, 100, 50)
    assert (job.pattern.gap_timeout_s, job.pattern.large_withdrawal, job.pattern.remembered_event_ids,
            job.pattern.max_held_events) == (45.0, Decimal("2500.50"), 20, 7)
    assert (job.source_init_position, job.source_init_timestamp, job.source_bounded) == (
        "AT_TIMESTAMP", 1767225600.0, True)
    flink = job.flink_config()
    assert (flink.parallelism, flink.checkpoint_interval_ms) == (3, 5000)


def test_defaults_derive_exactly_once_and_leave_the_optional_outputs_out():
    job = EventSourcingJobConfig.from_properties(BASE)
    assert job.derived_exactly_once is True
    assert (job.totals_table, job.derived_stream, job.source_init_position, job.source_bounded) == (
        None, None, "TRIM_HORIZON", False)
    assert job.pattern.gap_timeout_s == 300.0


def test_on_managed_flink_the_job_sets_no_key_the_service_refuses():
    flink = EventSourcingJobConfig.from_properties({**BASE, "parallelism": "4"}).flink_config()
    managed = FlinkConfig(parallelism=flink.parallelism, checkpoint_interval_ms=flink.checkpoint_interval_ms,
                          extra=flink.extra, managed=True)
    assert set(environment_settings(managed)) <= {"python.execution-mode", "pipeline.name", "pipeline.object-reuse"}
    assert "parallelism.default" in environment_settings(FlinkConfig(**{**managed.__dict__, "managed": False}))


@pytest.mark.parametrize("properties, message", [
    ({"es.gap_timeout": "60"}, "property es.gap_timeout: unknown event-sourcing setting"),
    ({"es.snapshot_every_events": "10"}, "property es.snapshot_every_events: unknown event-sourcing setting"),
    ({"es.gap_timeout_s": "0"}, "gap_timeout_s must be a number above 0"),
    ({"es.large_withdrawal": "lots"}, "large_withdrawal must be a positive amount"),
    ({"es.max_held_events": "many"}, "property es.max_held_events: cannot read 'many'"),
    ({"projection.tables": "x"}, "unknown keys ['projection.tables']"),
    ({"dead_letter.stream": "", "dead_letter.s3": ""}, "set dead_letter.s3 or dead_letter.stream"),
    ({"dead_letter.s3": ""}, "dead_letter.stream needs dead_letter.s3 too, for the letters too large"),
    ({"dead_letter.stream": "", "dead_letter.s3": "lake/dlq"}, "dead_letter.s3"),
    ({"derived.exactly_once": "yes"}, "property derived.exactly_once: cannot read 'yes'"),
    ({"projection.flush.ms": "-1"}, "property projection.flush.ms: must be 0 or more"),
    ({"apply.buckets": "0"}, "property apply.buckets: must be 1 or more"),
    ({"apply.batch.records": "0"}, "property apply.batch.records: must be 1 or more"),
    ({"apply.batch.ms": "-5"}, "property apply.batch.ms: must be 1 or more"),
])
def test_a_bad_property_is_refused_naming_it(properties, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        EventSourcingJobConfig.from_properties({**BASE, **properties})


@pytest.mark.parametrize("missing", ["input.stream", "projection.table"])
def test_the_required_keys_are_named(missing):
    properties = dict(BASE)
    del properties[missing]
    with pytest.raises(ValueError, match=f"{missing} is required"):
        EventSourcingJobConfig.from_properties(properties)


def test_dead_letters_may_go_to_s3_instead():
    job = EventSourcingJobConfig.from_properties({"input.stream": "e", "projection.table": "a",
                                                  "dead_letter.s3": "s3://lake/dlq", "s3.batch.max-age-s": "5"})
    assert (job.dead_letter_s3, job.dead_letter_stream, job.s3_batch_max_age_s) == ("s3://lake/dlq", None, 5.0)
