"""The event-sourcing Flink job's settings: group ``shardline`` of the application's runtime properties.

Keys are the field names with ``_`` -> ``.``; the pattern's own settings are ``es.<EventSourcingConfig field>``
(``es.gap_timeout_s``, ``es.large_withdrawal``, ``es.remembered_event_ids``, ``es.max_held_events``), the
names ``shardline es run --config`` reads.  Parallelism and checkpointing are the keys every job of ours reads
(``FlinkJobSettings``); on Managed Flink the application's own configuration sets them instead, and the job
sets no key the service refuses (``connectors.flink.environment_settings``).

>>> job = EventSourcingJobConfig.from_properties({"input.stream": "events", "projection.table": "accounts",
...     "dead_letter.stream": "events-dlq", "es.gap_timeout_s": "60", "es.large_withdrawal": "2500.50"})
>>> job.pattern.gap_timeout_s, job.pattern.large_withdrawal, job.derived_exactly_once
(60.0, Decimal('2500.50'), True)
>>> EventSourcingJobConfig.from_properties({"input.stream": "e", "projection.table": "a",
...     "dead_letter.stream": "d", "es.gap_timeout": "60"})
Traceback (most recent call last):
...
ValueError: property es.gap_timeout: unknown event-sourcing setting; known: es.gap_timeout_s, es.large_withdrawal, es.max_held_events, es.remembered_event_ids
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

from connectors.aws import split_s3_url
from jobs.flink.job_config import PROPERTY_GROUP, FlinkJobSettings, _parse, check_dead_letter_overflow
from pipelines.eventsourcing.config import EventSourcingConfig

PATTERN_KEYS = ("gap_timeout_s", "large_withdrawal", "remembered_event_ids", "max_held_events")
"""The ``es.*`` settings the job reads; the snapshot cadence is not one (its state is in Flink's checkpoints)."""
_RENAMED = {"dead.letter.s3": "dead_letter.s3", "dead.letter.stream": "dead_letter.stream",
            "s3.batch.max.age.s": "s3.batch.max-age-s", "derived.exactly.once": "derived.exactly_once"}


@dataclass(frozen=True)
class EventSourcingJobConfig(FlinkJobSettings):
    input_stream: str
    """Kinesis stream of event envelopes, partitioned by aggregate id."""
    projection_table: str
    """DynamoDB table of the projections (key: aggregate_id S): one item per aggregate, rewritten whole."""
    totals_table: str | None = None
    """DynamoDB table of the cross-aggregate read model (key: group S, attribute total N), e.g. per branch."""
    derived_stream: str | None = None
    """Kinesis stream for derived events (BalanceChanged, LargeWithdrawal), partitioned by aggregate id."""
    derived_exactly_once: bool = True
    """Write derived events through the exactly-once (two-phase commit) sink, so a restore sends none twice;
    false: at least once (a restore re-sends those after the checkpoint, with the same ids)."""
    dead_letter_s3: str | None = None
    """s3://bucket/prefix for dead letters (JSON lines under dt=/hour=)."""
    dead_letter_stream: str | None = None
    """Kinesis stream for dead letters (each record one DeadLetter JSON); those too large for one record go to
    dead_letter.s3, which must be set too."""
    s3_batch_records: int = 5_000
    """Dead letters per S3 object at most."""
    s3_batch_max_age_s: float = 60.0
    """An S3 batch of dead letters is written at the latest this long after its first letter."""
    projection_flush_ms: int = 1_000
    """A changed projection item (and a group's total) is written once per this many milliseconds of processing
    time at most, its newest version, and at the end of a bounded input; 0 writes one at the end of every batch
    that changed it.  One request is in flight per DynamoDB sink (items of a key stay in order), so this is what
    keeps the writes apace with a busy stream."""
    apply_buckets: int = 32
    """Buckets the aggregates are spread over (by their id's hash): each is one key of the Python operator, which
    gets a bucket's records in batches (PyFlink's cost is per element, not per record).  Fewer make bigger
    batches; more spread the load evenly over the subtasks: a few times the parallelism.  Fixed for the life of
    the job's state: a restore with another count fails, naming the count the state was kept in."""
    apply_batch_records: int = 500
    """Records in one batch at most."""
    apply_batch_ms: int = 200
    """A record waits this long at most for its batch to fill (and no batch is held across a checkpoint)."""
    state_cache_size: int = 10_000
    """Aggregates kept decoded in each Python worker between records (keyed state stays the record of truth), about
    2.4 KB each for the bank domain.  Keep it above the aggregates a subtask sees in a while: each event of one
    not kept reads and decodes its state again (the Python step in process, 12,000 accounts against 10,000 kept:
    83 us an event, against 72 with all kept)."""
    state_known_ids: int = 1_000_000
    """Ids of aggregates with state that each Python worker keeps (about 100 bytes each), read a bucket at a
    time, so the first event of a new aggregate reads no state: that read is a blocking round trip to the JVM
    (about 140 us of CPU, and the worker waits).  Past it, a bucket's ids are dropped and every aggregate not in
    the cache is read; 0 reads them all."""
    python_state_cache_size: int = 20_000
    """Keys whose keyed state PyFlink's Python worker keeps (``python.state.cache-size``, Flink's default 1,000):
    past it, every record of another key writes an evicted key's state back to the JVM and waits for it.  Set
    it above the keys a subtask sees in a few seconds.  Managed Flink leaves it to the application's own
    configuration."""
    pattern: EventSourcingConfig = field(default_factory=EventSourcingConfig)
    """The ``es.*`` keys."""

    def __post_init__(self) -> None:
        if not (self.dead_letter_s3 or self.dead_letter_stream):
            raise ValueError(f"property group '{PROPERTY_GROUP}': set dead_letter.s3 or dead_letter.stream, so "
                             "records that are no event, and events the rules refuse, are kept")
        check_dead_letter_overflow(self.dead_letter_stream, self.dead_letter_s3)
        if self.dead_letter_s3:
            split_s3_url(self.dead_letter_s3, "dead_letter.s3")
        if self.state_cache_size < 0:
            raise ValueError("property state.cache.size: must be 0 or more")
        if self.state_known_ids < 0:
            raise ValueError("property state.known.ids: must be 0 or more")
        if self.python_state_cache_size < 1:
            raise ValueError("property python.state.cache.size: must be 1 or more")
        for name in ("apply_buckets", "apply_batch_records", "apply_batch_ms"):
            if getattr(self, name) < 1:
                raise ValueError(f"property {name.replace('_', '.')}: must be 1 or more")
        if self.projection_flush_ms < 0:
            raise ValueError("property projection.flush.ms: must be 0 or more")

    def flink_config(self):
        flink = super().flink_config()
        # Object reuse: without it the source's chain deep-copies every row it hands on (an eighth of that thread,
        # JFR).  Safe here, as on the SQL path (jobs.flink.sql_job): Python operators serialize what they get, and
        # the sinks convert an element when it arrives.
        return replace(flink, extra={**flink.extra, "python.state.cache-size": str(self.python_state_cache_size),
                                     "pipeline.object-reuse": "true"})

    @classmethod
    def from_properties(cls, properties: Mapping[str, str]) -> "EventSourcingJobConfig":
        known = {f.name.replace("_", "."): f for f in fields(cls) if f.name != "pattern"}
        known.update({new: known.pop(old) for old, new in _RENAMED.items()})
        pattern_keys = {f"es.{name}": name for name in PATTERN_KEYS}
        unknown_es = sorted(key for key in properties if key.startswith("es.") and key not in pattern_keys)
        if unknown_es:
            raise ValueError(f"property {unknown_es[0]}: unknown event-sourcing setting; known: "
                             f"{', '.join(sorted(pattern_keys))}")
        unknown = sorted(set(properties) - set(known) - set(pattern_keys))
        if unknown:
            raise ValueError(f"property group '{PROPERTY_GROUP}': unknown keys {unknown}; known: "
                             f"{sorted(known) + sorted(pattern_keys)}")
        for required in ("input.stream", "projection.table"):
            if not properties.get(required):
                raise ValueError(f"property group '{PROPERTY_GROUP}': {required} is required")
        values: dict[str, Any] = {}
        settings: dict[str, Any] = {}
        pattern_fields = {f.name: f for f in fields(EventSourcingConfig)}
        for key, text in properties.items():
            if key in pattern_keys:
                name = pattern_keys[key]
                settings[name] = _pattern_value(key, text, str(pattern_fields[name].type))
            else:
                values[known[key].name] = _parse(key, text, str(known[key].type))
        try:
            pattern = EventSourcingConfig.from_dict(settings)
        except ValueError as exc:
            raise ValueError(f"property es.{exc}") from None
        return cls(**values, pattern=pattern)


def _pattern_value(key: str, text: str, annotation: str) -> Any:
    if annotation.startswith("Decimal"):
        return text  # EventSourcingConfig reads amounts from their text, exactly
    return _parse(key, text, annotation)
