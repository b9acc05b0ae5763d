"""The event-sourcing pattern as a Flink job: Kinesis events to projections in DynamoDB, derived events, totals.

What runs where:

- ``shardline-kinesis`` (Java) reads the stream as a table in the ``shardline-envelope`` format: Java decodes
  and validates each envelope (a record that is none gets ``error``, the reason every engine's validate step
  gives) and hands on its payload as JSON text with its bytes and position for a dead letter;
- ``EnvelopeBucketBatcher`` (Java, ``batch_envelopes_by_field``, on the table's own rows: no SQL step copies
  them, no conversion to ``Row``) gathers the records by the bucket of their ``aggregate_id`` (the payload's
  top-level string field; ``''`` when it has none) into batches (``apply.batch.records``, ``apply.batch.ms``; none
  held across a checkpoint or a watermark) in columns, keyed by bucket in Java: PyFlink's cost is per element
  (and per Python ``Row`` it builds), so a batch of records pays it once;
- ``ApplyEvents`` (Python, keyed by bucket) reads each payload as an event (``parse_event``, as every engine
  does; a payload that is no event is a dead letter with the reason the file mode gives) and runs
  ``EventSourcingPattern``'s rules over the one aggregate of its id (``KeyedPattern``): order, deduplicate, hold
  behind a gap, apply, derive.  The bucket's keyed state is a map by aggregate id (pickled
  ``Aggregate.to_state()``), written once a batch for each aggregate the batch changed, and the bucket's own
  bookkeeping: which aggregates changed version since their item was sent, the totals' deltas not yet sent (by
  group), which aggregates hold events behind a gap and until when.  A flush so writes the bucket's value once,
  not each aggregate it sends again (most were written twice a tick).  A bounded LRU of decoded aggregates saves
  reading and decoding them again (keyed state stays the record of truth: a restore starts with an empty cache,
  and every change is written through).  A batch's derived events leave as one
  batch in columns, handed on row by row in Java (``unbatch``).
  Timers, a bucket's: a processing-time timer at ``blocked_since + es.gap_timeout_s`` sends the events held
  behind a gap that stayed open to the dead letters; a processing-time timer on the next tick of
  ``projection.flush.ms`` sends the changed aggregates' projection items (their newest: items are whole; one
  batch) and their totals' deltas (summed by group), so a busy aggregate writes once a tick, not once an event;
  an event-time timer at the end of time fires on the final watermark of a bounded input and does both for what
  is left (held events go to the dead letters, as the file mode's ``finish()`` sends them);
- ``SumTotals`` (Python, keyed by group, again by Java) keeps each group's running total (the pattern's
  ``branch_totals``) in keyed state and sends it once a tick and at the end;
- what leaves: projection items and totals through ``shardline-dynamodb`` (Java; whole items keyed by
  ``aggregate_id`` / ``group``, one request in flight so a key's items land in order), derived events as envelope
  columns to ``derived.stream`` through the exactly-once Kinesis sink (``derived.exactly_once``), which encodes them
  in Java, and dead letters, masked with the generic PII policy (an account's owner is personal), to
  ``dead_letter.stream`` or ``dead_letter.s3``.

The projections, derived events, totals and dead-letter reasons are the file mode's (``shardline es run``) for
the same records, aggregate by aggregate (a test).  State is restored from a checkpoint with the source's
positions, so a replay after a crash rewrites the same items in the same order and derives the same ids.

Run locally:  python -m jobs.flink.eventsourcing_job --properties app.json
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from decimal import Decimal
from typing import Any

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from connectors.flink import (aws_table_options, batch_envelopes_by_field, columns_of, envelope_row_type,
                              key_by_column, kinesis_sink, side_output, stream_environment, unbatch, with_clause)
from jobs.flink.dead_letters import DeadLetters
from jobs.flink.eventsourcing_config import EventSourcingJobConfig
from jobs.flink.job_config import BYTES, DEAD_LETTERS, job_properties
from jobs.flink.sql_job import input_table
from jobs.flink.workers import freeze_startup_objects
from jobs.flink.eventsourcing_keyed import KeyedPattern, KnownIds, fingerprint
from pipelines.eventsourcing.aggregates import Aggregate
from pipelines.eventsourcing.config import EventSourcingConfig
from pipelines.eventsourcing.outputs import SOURCE, derived_payload
from pipelines.eventsourcing.pattern import Output
from pipelines.records import payload_to_json

log = logging.getLogger("shardline.jobs.flink.eventsourcing")

END_OF_TIME = 2**63 - 2
"""The event-time timer that fires on a bounded input's final watermark (Long.MAX_VALUE) and never before."""
PROJECTION_COLUMNS = ("aggregate_id", "version", "status", "state", "occurred_at")
PROJECTION = Types.ROW_NAMED(list(PROJECTION_COLUMNS), [Types.STRING(), Types.LONG(), Types.STRING(), Types.STRING(),
                                                        Types.LONG()])
DERIVED = OutputTag("derived", columns_of(envelope_row_type()))
"""A batch's derived events as envelope columns, one batch (``unbatch`` hands them on one by one): the Kinesis
sink encodes them in Java (to_avro here cost 30 us each)."""
DELTA = Types.ROW_NAMED(["grp", "delta"], [Types.STRING(), Types.BIG_DEC()])
DELTAS = OutputTag("deltas", Types.ROW([Types.STRING(), DELTA]))
"""A group's change of total, keyed by the group (``key_by_column``: no Python step to key it)."""
TOTAL = Types.ROW_NAMED(["group", "total"], [Types.STRING(), Types.BIG_DEC()])


def dead_letters(runtime_context: RuntimeContext) -> DeadLetters:
    """The job's letters: masked with the generic PII policy (an account's owner is personal)."""
    from pipelines.pii.dead_letters import DeadLetterMask

    return DeadLetters(runtime_context.get_metrics_group(), "shardline_es_dead_letters", DeadLetterMask())


class _Bucket:
    """A bucket's own keyed state, decoded: what its timers act on."""

    __slots__ = ("dirty", "deadlines", "tick", "ending", "buckets", "pending")

    def __init__(self, dirty: dict | None = None, deadlines: dict | None = None, tick: int = 0,
                 ending: bool = False, buckets: int | None = None, pending: dict | None = None) -> None:
        self.dirty: dict[str, None] = dirty if dirty is not None else {}
        """Aggregates whose version changed since their projection item was sent, in order of change."""
        self.deadlines: dict[str, int] = deadlines if deadlines is not None else {}
        """Aggregates holding events behind a gap -> when the gap times out (epoch ms)."""
        self.tick = tick
        """The flush tick a timer was last registered for (one registration a tick, however many batches)."""
        self.ending = ending
        """Whether the bucket's end-of-input timer is registered (once a bucket: each registration is a message)."""
        self.buckets = buckets
        """``apply.buckets`` when the state was written: an aggregate's state is found by its bucket."""
        self.pending: dict[str, Decimal] = {group: Decimal(delta) for group, delta in (pending or {}).items()}
        """What the totals gain per group from the changes not yet sent (sent, and cleared, with the items)."""

    def state(self) -> tuple:
        # Deltas as text: pickle writes a Decimal through its __reduce__ (2.7 us of the 4.9 a store took).
        return (self.dirty, self.deadlines, self.tick, self.ending, self.buckets,
                {group: str(delta) for group, delta in self.pending.items()})


class _LruCache(OrderedDict):
    """Decoded state of the aggregates seen last, between batches (keyed state is written through on every
    change)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def keep(self, key, value) -> None:
        if self.size:
            self[key] = value
            self.move_to_end(key)
            if len(self) > self.size:
                self.popitem(last=False)


class _Columns:
    """Rows gathered for a batch in columns (``columns_of``), sent as one element with no ``Row`` a row: each row a
    tuple as it comes, turned into columns once a batch (``zip``, in C)."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[tuple] = []

    def add(self, *fields) -> None:
        self.rows.append(fields)

    def __bool__(self) -> bool:
        return bool(self.rows)

    def row(self) -> Row:
        return Row(*map(list, zip(*self.rows)))


def derived_columns(derived) -> tuple:
    """A derived event as envelope columns (``envelope_row_type``), the fields ``derived_record`` gives its record
    (without building one: frozen dataclasses cost a microsecond each to build)."""
    return (derived.event_id, derived.type, SOURCE, derived.occurred_at, derived.aggregate_id, None,
            payload_to_json(derived_payload(derived)))


def _flush_tick(now_ms: int, flush_ms: int) -> int:
    """The next multiple of ``flush_ms``: one timer per key per tick, however many records it gets."""
    return (now_ms // flush_ms + 1) * flush_ms


class ApplyEvents(KeyedProcessFunction):
    """Keyed by bucket (``batch_envelopes_by_field``: a batch of records an element, each aggregate in one bucket): the
    pattern's rules over each record's aggregate, kept in the bucket's keyed state (a map by aggregate id).

    PyFlink's cost is per element, each output and timer registration one, so a batch is one element in (in
    columns: no Python ``Row`` a record), its derived events one element out (in columns, sent on row by row in
    Java), and a bucket has one flush timer a tick, not an aggregate.  Projection items are whole, so an
    aggregate's newest one is all a store needs: with ``flush_ms`` above 0 the bucket's changed items (and their
    share of the totals) are sent once a tick of a processing-time timer, and at the end of a bounded input; 0
    sends them at the end of every batch.  A new aggregate's first event reads no state (``KnownIds``).
    """

    def __init__(self, config: EventSourcingConfig, stream: str, cache_size: int, totals: bool,
                 flush_ms: int, buckets: int, known_ids: int) -> None:
        self.buckets_configured = buckets
        self.known_ids = known_ids
        self.config = config
        self.stream = stream
        self.cache_size = cache_size
        self.totals = totals
        self.flush_ms = flush_ms

    def open(self, runtime_context: RuntimeContext) -> None:
        import pickle

        from pipelines.engine import Rejected, rejection
        from pipelines.eventsourcing.events import EventError, parse_event
        from pipelines.records import RecordValidationError, payload_from_json
        from pipelines.eventsourcing.outputs import held_event_letter, state_text
        from pipelines.eventsourcing.pattern import DerivedEvent

        self.aggregates = runtime_context.get_map_state(MapStateDescriptor("aggregates", Types.STRING(), BYTES))
        self.bucket_state = runtime_context.get_state(ValueStateDescriptor("bucket", BYTES))
        self.keyed = KeyedPattern(self.config)
        self.cache = _LruCache(self.cache_size)
        self.buckets: dict[int, _Bucket] = {}
        self.known = KnownIds(self.known_ids)
        self.bucket_id: int | None = None
        self.letters = dead_letters(runtime_context)
        self.read = runtime_context.get_metrics_group().counter("shardline_es_events_read")
        """Records read, events or not: how far the step has got (Python's metrics reach Flink every few seconds)."""
        self._dumps, self._loads = pickle.dumps, pickle.loads
        self._derived_type, self._rejected = DerivedEvent, Rejected
        self._parse, self._payload, self._rejection = parse_event, payload_from_json, rejection
        self._bad_event, self._format_error = (EventError, RecordValidationError), RecordValidationError.__name__
        self._held_letter = held_event_letter
        self._state_text = state_text
        self.held_source = f"kinesis:{self.stream}:held"
        self._row = Row
        freeze_startup_objects()

    # --- state (of the current bucket) ------------------------------------------------------------------------

    def _load(self, key: str) -> Aggregate | None:
        aggregate = self.cache.get(key)
        if aggregate is not None:
            self.cache.move_to_end(key)
            return aggregate
        if self.known.is_new(self.bucket_id, key):
            return None  # a new aggregate: no state to read
        stored = self.aggregates.get(key)
        if stored is None:
            return None
        state = self._loads(stored)
        if type(state) is tuple:
            return self._upgrade(key, *state)
        aggregate = Aggregate.from_state(state)
        self.cache.keep(key, aggregate)
        return aggregate

    def _upgrade(self, key: str, state: dict, projected: int, pending: dict) -> Aggregate:
        """An aggregate kept as ``(state, version sent, totals' deltas not sent)`` (state from before the bucket kept
        the deltas): its deltas move to its bucket (its bucket lists it as changed already) and it is stored anew,
        so they are counted once."""
        bucket = self.buckets[self.bucket_id]
        for group, delta in pending.items():
            bucket.pending[group] = bucket.pending.get(group, 0) + Decimal(delta)
        aggregate = Aggregate.from_state(state)
        self._store(key, aggregate)
        self._store_bucket(bucket)
        return aggregate

    def _store(self, key: str, aggregate: Aggregate) -> None:
        self.aggregates.put(key, self._dumps(aggregate.to_state(), 5))
        self.cache.keep(key, aggregate)
        self.known.add(self.bucket_id, key)

    def _enter(self, bucket_id: int) -> _Bucket:
        """The bucket of the current key, its known ids read: what ``_load`` and ``_store`` act on."""
        bucket = self._bucket(bucket_id)
        self.bucket_id = bucket_id
        self.known.of(bucket_id, self.aggregates.keys)
        return bucket

    def _bucket(self, bucket_id: int) -> _Bucket:
        bucket = self.buckets.get(bucket_id)
        if bucket is None:
            stored = self.bucket_state.value()
            bucket = _Bucket(*self._loads(stored)) if stored is not None else _Bucket()
            if bucket.buckets is None:
                bucket.buckets = self.buckets_configured
            elif bucket.buckets != self.buckets_configured:
                # Another count puts an aggregate in another bucket, where its state is not: every aggregate
                # would start afresh.  Fail the restore instead, saying how to mend it.
                raise ValueError(f"property apply.buckets is {self.buckets_configured}, but the state restored was "
                                 f"kept in {bucket.buckets} buckets: restore with apply.buckets={bucket.buckets} "
                                 "(or rebuild the projections from the stream with a new job)")
            self.buckets[bucket_id] = bucket
        return bucket

    def _store_bucket(self, bucket: _Bucket) -> None:
        self.bucket_state.update(self._dumps(bucket.state(), 5))

    # --- batches and timers -----------------------------------------------------------------------------------

    def process_element(self, batch, ctx: KeyedProcessFunction.Context):
        bucket = self._enter(ctx.get_current_key())
        timers = ctx.timer_service()
        now_ms = timers.current_processing_time()
        now, keyed, fingerprint_of = now_ms / 1000, self.keyed, fingerprint
        touched: dict[str, Aggregate] = {}
        derived = _Columns()
        changed = False
        self.read.inc(len(batch[0]))
        for payload, error, record, source in zip(*batch):
            if error is not None:  # no envelope: the reason the format gives, as every engine's validate step
                yield DEAD_LETTERS, self.letters.letter(self._rejected(self._format_error, error, "validate"),
                                                        source, record)
                continue
            try:
                event = self._parse(self._payload(payload))
            except self._bad_event as exc:
                yield DEAD_LETTERS, self.letters.letter(self._rejection(exc, "validate"), source, record)
                continue
            key = event.aggregate_id
            before = touched.get(key) or self._load(key)
            before_print = fingerprint_of(before)
            if before is not None:
                before_version, before_deadline = before.version, keyed.deadline_ms(before)
            else:
                before_version, before_deadline = 0, None
            aggregate, outputs = keyed.on_event(before, event, now)
            if outputs:
                yield from self._route(outputs, event.event_id, source, record, derived)
            if aggregate is None or fingerprint_of(aggregate) == before_print:
                continue
            if self.totals:
                pending = bucket.pending
                for group, delta in keyed.deltas():
                    pending[group] = pending.get(group, 0) + delta
                    changed = True
            deadline = keyed.deadline_ms(aggregate)
            if deadline != before_deadline:
                if deadline is None:
                    bucket.deadlines.pop(key, None)
                else:
                    bucket.deadlines[key] = deadline
                    timers.register_processing_time_timer(deadline)
                changed = True
            if aggregate.version != before_version and key not in bucket.dirty:
                bucket.dirty[key] = None
                changed = True
            touched[key] = aggregate
        if derived:
            yield DERIVED, derived.row()
        for key, aggregate in touched.items():
            self._store(key, aggregate)
        if bucket.dirty:
            if not self.flush_ms:
                yield from self._flush(bucket)
            else:
                # One timer a tick: a bucket whose timer is due already registers the next tick's (a timer
                # restored from a checkpoint needs no batch to fire, and a bucket never waits on one alone).
                tick = _flush_tick(now_ms, self.flush_ms)
                if tick != bucket.tick:
                    timers.register_processing_time_timer(tick)
                    bucket.tick = tick
            changed = True
        if (bucket.dirty or bucket.deadlines) and not bucket.ending:
            timers.register_event_time_timer(END_OF_TIME)
            bucket.ending = changed = True
        if changed:
            self._store_bucket(bucket)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        bucket = self._enter(ctx.get_current_key())
        ending = timestamp == END_OF_TIME
        now = (ctx.timer_service().current_processing_time() if ending else timestamp) / 1000
        derived = _Columns()
        due = [key for key, deadline in bucket.deadlines.items() if ending or deadline <= timestamp]
        for key in due:
            aggregate = self._load(key)
            deadline = None
            if aggregate is not None:
                if aggregate.held:
                    version = aggregate.version
                    outputs = self.keyed.finish(key, aggregate, now) if ending else self.keyed.tick(key, aggregate,
                                                                                                  now)
                    yield from self._route(outputs, None, self.held_source, b"", derived)
                    self._store(key, aggregate)
                    if aggregate.version != version:
                        bucket.dirty[key] = None
                deadline = self.keyed.deadline_ms(aggregate)
            if deadline is None:
                del bucket.deadlines[key]
            elif deadline != bucket.deadlines[key]:
                bucket.deadlines[key] = deadline
                ctx.timer_service().register_processing_time_timer(deadline)
        if derived:
            yield DERIVED, derived.row()
        flushed = bool(bucket.dirty or bucket.pending)
        if flushed:
            yield from self._flush(bucket)
        if due or flushed:
            self._store_bucket(bucket)

    def _flush(self, bucket: _Bucket):
        """The bucket's changed projection items (one batch in columns) and its totals' deltas, by group; the
        caller stores the bucket, emptied of both."""
        rows = _Columns()
        for key in bucket.dirty:
            aggregate = self._load(key)
            if aggregate is None:
                continue
            changed = self.keyed.projection(key, aggregate)
            if changed is not None:
                status = changed.status
                rows.add(changed.aggregate_id, changed.version, None if status is None else str(status),
                         self._state_text(changed), changed.occurred_at)
        deltas, bucket.dirty, bucket.pending = bucket.pending, {}, {}
        if rows:
            yield rows.row()
        for group, delta in deltas.items():
            yield DELTAS, self._row(group, self._row(group, delta))

    def _route(self, outputs: list[Output], event_id: str | None, source: str, record: bytes,
               derived: _Columns):
        """Dead letters yielded, derived events added to ``derived`` (sent as one batch)."""
        derived_event, rejected_type = self._derived_type, self._rejected
        for output in outputs:
            kind = type(output)
            if kind is derived_event:
                derived.add(*derived_columns(output))
            elif isinstance(output, rejected_type):
                # Held behind a gap and refused later than it came: the letter carries the event itself.
                held = self._held_letter(output, {"event_id": event_id})
                if held is not None:
                    yield DEAD_LETTERS, self.letters.letter(output, self.held_source, held)
                else:
                    yield DEAD_LETTERS, self.letters.letter(output, source, record)


class SumTotals(KeyedProcessFunction):
    """Keyed by group: the running total of the deltas of every aggregate of the group (the pattern's
    ``branch_totals``), in keyed state, sent as a whole item once a tick (``flush_ms``; 0: every delta) and at
    the end of a bounded input."""

    def __init__(self, flush_ms: int) -> None:
        self.flush_ms = flush_ms

    def open(self, runtime_context: RuntimeContext) -> None:
        import pickle

        self.state = runtime_context.get_state(ValueStateDescriptor("total", BYTES))
        self.cache: dict[str, list] = {}  # few groups: each [total, sent, tick of its timer, end timer registered]
        self._dumps, self._loads, self._row = pickle.dumps, pickle.loads, Row

    def _load(self, group: str) -> list:
        entry = self.cache.get(group)
        if entry is None:
            stored = self.state.value()
            entry = self.cache[group] = list(self._loads(stored)) if stored is not None else [Decimal(0), True, 0,
                                                                                              False]
        return entry

    def process_element(self, value, ctx: KeyedProcessFunction.Context):
        group, delta = value[0], value[1]
        entry = self._load(group)
        entry[0] += delta
        if not self.flush_ms:
            yield self._row(group, entry[0])
        else:
            entry[1] = False
            timers = ctx.timer_service()
            tick = _flush_tick(timers.current_processing_time(), self.flush_ms)
            if tick != entry[2]:  # one timer a tick (as ApplyEvents: never waiting on a restored one alone)
                timers.register_processing_time_timer(tick)
                entry[2] = tick
            if not entry[3]:
                timers.register_event_time_timer(END_OF_TIME)
                entry[3] = True
        self.state.update(self._dumps(tuple(entry), 5))

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):
        group = ctx.get_current_key()
        entry = self._load(group)
        if not entry[1]:
            entry[1] = True
            self.state.update(self._dumps(tuple(entry), 5))
            yield self._row(group, entry[0])


# --- the job ---------------------------------------------------------------------------------------------------

def _sink_requests() -> dict[str, str]:
    # One BatchWriteItem in flight per sink: a batch never lands after a newer one holding the same key
    # (concurrent requests race, and a retried one comes later still); ApplyEvents and SumTotals keep the
    # number of items down instead, a key's newest once a tick.
    return {"sink.requests.max-inflight": "1", **aws_table_options("dynamodb")}


def table_statements(job: EventSourcingJobConfig) -> tuple[list[str], list[str]]:
    """(CREATE TABLEs, INSERTs) of the Java side: projection items and the running totals."""
    projection = {"connector": "shardline-dynamodb", "table-name": job.projection_table, **_sink_requests()}
    creates = [f"""CREATE TABLE projection (aggregate_id STRING, version BIGINT, status STRING, state STRING,
        occurred_at BIGINT) PARTITIONED BY (aggregate_id) WITH ({with_clause(projection)})"""]
    inserts = [f"INSERT INTO projection SELECT {', '.join(PROJECTION_COLUMNS)} FROM projection_rows"]
    if job.totals_table:
        totals = {"connector": "shardline-dynamodb", "table-name": job.totals_table, **_sink_requests()}
        creates.append(f"""CREATE TABLE totals (`group` STRING, total DECIMAL(38, 18)) PARTITIONED BY (`group`)
            WITH ({with_clause(totals)})""")
        inserts.append("INSERT INTO totals SELECT `group`, total FROM total_rows")
    return creates, inserts


def derived_sink(job: EventSourcingJobConfig, flink):
    """Exactly once by default: a restore reads the derived stream back and writes only what is missing."""
    return kinesis_sink(job.derived_stream, config=flink, exactly_once=job.derived_exactly_once, envelopes=True)


def build(env, t_env, job: EventSourcingJobConfig, flink) -> Any:
    """Add the job's operators to ``env`` and return the statement set of its table sinks."""
    from jobs.flink.pipeline_job import dead_letters_to

    t_env.execute_sql(input_table(job, flink))
    batches = batch_envelopes_by_field(t_env, "input", "aggregate_id", job.input_stream, buckets=job.apply_buckets,
                                       max_records=job.apply_batch_records, max_delay_ms=job.apply_batch_ms)
    # A new uid: the state is a map per bucket now, not a value per aggregate (an older savepoint does not fit).
    applied = batches.process(ApplyEvents(job.pattern, job.input_stream, job.state_cache_size, bool(job.totals_table),
                                          job.projection_flush_ms, job.apply_buckets, job.state_known_ids),
                              output_type=columns_of(PROJECTION)) \
        .name("es:apply").uid("es-apply-batches")
    t_env.create_temporary_view("projection_rows", t_env.from_data_stream(unbatch(applied, PROJECTION)))
    if job.totals_table:
        totals = key_by_column(side_output(applied, DELTAS), Types.STRING(), DELTA) \
            .process(SumTotals(job.projection_flush_ms), output_type=TOTAL).name("es:totals").uid("es-totals")
        t_env.create_temporary_view("total_rows", t_env.from_data_stream(totals))
    if job.derived_stream:
        unbatch(side_output(applied, DERIVED), envelope_row_type()).sink_to(derived_sink(job, flink)) \
            .name(f"kinesis:{job.derived_stream}").uid("es-derived-sink")
    dead_letters_to(applied.get_side_output(DEAD_LETTERS), job.dead_letter_stream, job.dead_letter_s3,
                    job.input_stream, job, flink)
    creates, inserts = table_statements(job)
    for statement in creates:
        t_env.execute_sql(statement)
    statement_set = t_env.create_statement_set()
    for statement in inserts:
        statement_set.add_insert_sql(statement)
    return statement_set


def run(job: EventSourcingJobConfig, job_name: str = "shardline-eventsourcing") -> None:
    from pyflink.table import StreamTableEnvironment

    flink = job.flink_config()
    env = stream_environment(flink)
    t_env = StreamTableEnvironment.create(env)
    statement_set = build(env, t_env, job, flink)
    statement_set.attach_as_datastream()
    log.info("event=job_submit job=%s input=%s projection_table=%s totals_table=%s derived_stream=%s bounded=%s",
             job_name, job.input_stream, job.projection_table, job.totals_table, job.derived_stream,
             job.source_bounded)
    env.execute(job_name)


def main(argv: list[str] | None = None) -> None:
    run(EventSourcingJobConfig.from_properties(job_properties(argv, __doc__.split("\n")[0])))


if __name__ == "__main__":
    from jobs.flink.eventsourcing_job import main as job_main  # by name: its functions pickle by reference

    job_main()
