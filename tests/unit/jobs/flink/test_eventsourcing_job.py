"""The event-sourcing Flink job's keyed step (``KeyedPattern``), without running Flink: one aggregate at a time,
stored between events as keyed state stores it, it gives the pattern's outputs, timeouts and totals."""
import pickle
from collections import defaultdict
from decimal import Decimal

from jobs.flink.eventsourcing_keyed import KeyedPattern
from pipelines.eventsourcing.aggregates import Aggregate
from pipelines.eventsourcing.config import EventSourcingConfig
from pipelines.eventsourcing.events import EventError, parse_event
from pipelines.eventsourcing.pattern import EventSourcingPattern, StateChanged
from pipelines.eventsourcing.synthetic import BankStreamConfig, generate_bank_stream
from pipelines.clock import FakeClock


def events():
    stream = generate_bank_stream(BankStreamConfig(accounts=25, transactions=10, refused_rate=0.1,
                                                   duplicate_rate=0.05, swap_rate=0.1, gap_rate=0.3, bad_rate=0.02,
                                                   seed=11))
    for payload, _ in stream.records:
        try:
            yield parse_event(payload)
        except EventError:
            continue


def test_one_aggregate_at_a_time_through_keyed_state_gives_the_pattern_s_outputs_and_totals():
    config = EventSourcingConfig(large_withdrawal=Decimal(3000))
    pattern, keyed = EventSourcingPattern(config, clock=FakeClock(100.0)), KeyedPattern(config)
    state: dict[str, bytes] = {}
    totals: dict[str, Decimal] = defaultdict(Decimal)
    expected, got = [], []
    for event in events():
        expected.extend(o for o in pattern.on_event(event) if not isinstance(o, StateChanged))  # read at flush
        stored = state.get(event.aggregate_id)
        aggregate = Aggregate.from_state(pickle.loads(stored)) if stored is not None else None  # as restored
        aggregate, outputs = keyed.on_event(aggregate, event, 100.0)
        got.extend(outputs)
        if aggregate is not None:
            state[event.aggregate_id] = pickle.dumps(aggregate.to_state())
            for group, delta in keyed.deltas():
                totals[group] += delta
    expected.extend(pattern.finish())
    for key in sorted(state):
        got.extend(keyed.finish(key, Aggregate.from_state(pickle.loads(state[key])), 100.0))
    assert got == expected and len(expected) > 200
    projections = [keyed.projection(key, Aggregate.from_state(pickle.loads(state[key]))) for key in sorted(state)]
    assert [p for p in projections if p is not None] == pattern.projections()
    assert dict(totals) == pattern.branch_totals()
    assert any(getattr(output, "reason", "").endswith("end of the input") for output in got)


def test_a_gap_times_out_at_its_deadline_and_not_before():
    keyed = KeyedPattern(EventSourcingConfig(gap_timeout_s=30))

    def event(version):
        return parse_event({"aggregate_id": "a", "aggregate_type": "Account", "version": version,
                            "event_id": f"e{version}", "type": "AccountOpened" if version == 1 else "Deposited",
                            "occurred_at": version, "data": {"owner": "o", "branch": "b", "amount": "1"}})
    aggregate, _ = keyed.on_event(None, event(1), 1000.0)
    aggregate, outputs = keyed.on_event(aggregate, event(3), 1000.5)
    assert outputs == [] and keyed.deadline_ms(aggregate) == 1_030_501
    assert keyed.tick("a", aggregate, 1030.4) == []
    letters = keyed.tick("a", aggregate, keyed.deadline_ms(aggregate) / 1000)
    assert [letter.reason for letter in letters] == ["version gap not filled within 30 s"]
    assert letters[0].event.version == 3 and not aggregate.held and keyed.deadline_ms(aggregate) is None
    aggregate, outputs = keyed.on_event(aggregate, event(2), 1040.0)  # the missing version still applies
    assert aggregate.version == 2 and [type(o).__name__ for o in outputs] == ["DerivedEvent"]


def test_deltas_follow_an_aggregate_into_its_group():
    keyed = KeyedPattern(EventSourcingConfig())

    def event(version, kind, **data):
        return parse_event({"aggregate_id": "a", "aggregate_type": "Account", "version": version,
                            "event_id": f"e{version}", "type": kind, "occurred_at": version, "data": data})
    aggregate, _ = keyed.on_event(None, event(1, "AccountOpened", owner="o", branch="north"), 1.0)
    assert keyed.deltas() == [("north", Decimal("0.00"))]  # listed as it enters, as branch_totals lists it
    aggregate, _ = keyed.on_event(aggregate, event(2, "Deposited", amount="7.50"), 2.0)
    assert keyed.deltas() == [("north", Decimal("7.50"))]
    aggregate, _ = keyed.on_event(aggregate, event(2, "Deposited", amount="7.50"), 3.0)  # a duplicate
    assert keyed.deltas() == []
    aggregate, _ = keyed.on_event(aggregate, event(4, "Withdrawn", amount="2.50"), 4.0)  # held behind a gap
    assert keyed.deltas() == []
    aggregate, _ = keyed.on_event(aggregate, event(3, "Deposited", amount="1.00"), 5.0)  # fills it: both apply
    assert keyed.deltas() == [("north", Decimal("-1.50"))] and aggregate.version == 4
    changes = EventSourcingPattern().total_changes  # each step's, as the pattern counts it
    assert changes({"balance": "5.00", "branch": "north"}, {"balance": "5.00", "branch": "south"}) == {
        "north": Decimal("-5.00"), "south": Decimal("5.00")}
    same = {"balance": "1.00", "branch": "x"}
    assert changes(same, same) == {} and changes(same, dict(same)) == {}


def test_the_flink_job_s_derived_columns_are_the_derived_record_s_fields():
    from connectors.flink import envelope_row_type
    from jobs.flink.eventsourcing_job import derived_columns
    from pipelines.eventsourcing.outputs import derived_record
    from pipelines.eventsourcing.pattern import DerivedEvent
    from pipelines.records import payload_to_json

    derived = DerivedEvent("BalanceChanged:e-2", "BalanceChanged", "acct-1", "Account", 2, "e-2", 1767225600000,
                           {"balance": "12.50", "delta": "12.50"})
    record = derived_record(derived)
    expected = {**record.as_dict(), "payload": payload_to_json(record.payload)}
    assert dict(zip(envelope_row_type().get_field_names(), derived_columns(derived))) == expected
