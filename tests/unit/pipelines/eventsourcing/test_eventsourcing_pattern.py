"""The event-sourcing pattern: order, duplicates, gaps, refusals, derived events, the read model, outputs."""
import random
from decimal import Decimal

import pytest

from pipelines.clock import FakeClock
from pipelines.engine import Rejected
from pipelines.eventsourcing.config import EventSourcingConfig
from pipelines.eventsourcing.outputs import derived_record, projection_record, state_line
from pipelines.eventsourcing.pattern import DerivedEvent, EventRejected, EventSourcingPattern, StateChanged
from pipelines.eventsourcing.synthetic import BankStreamConfig, generate_bank_stream
from pipelines.records import from_avro, to_avro

T0 = 1_767_225_600_000


def event(version, event_type, account="a-1", event_id=None, **data):
    return {"aggregate_id": account, "aggregate_type": "Account", "version": version,
            "event_id": event_id or f"{account}-{version}", "type": event_type, "occurred_at": T0 + version,
            "data": data}


def opened(account="a-1", branch="north"):
    return event(1, "AccountOpened", account, owner=f"Customer {account}", branch=branch)


def history(account="a-1", branch="north"):
    """Open, deposit 100, withdraw 30, deposit 5.50: balance 75.50 at version 4."""
    return [opened(account, branch), event(2, "Deposited", account, amount="100"),
            event(3, "Withdrawn", account, amount="30"), event(4, "Deposited", account, amount="5.50")]


def pattern(**config):
    clock = FakeClock(1_000.0)
    return EventSourcingPattern(EventSourcingConfig(**config), clock=clock), clock


def run(p, payloads):
    outputs = []
    for payload in payloads:
        outputs += p.on_payload(payload)
    return outputs


def kinds(outputs):
    return [type(o).__name__ for o in outputs]


def test_events_in_order_project_the_state_and_derive_balance_changes():
    p, _ = pattern()
    outputs = run(p, history())
    assert kinds(outputs) == ["StateChanged"] + ["StateChanged", "DerivedEvent"] * 3
    assert outputs[-2] == StateChanged("a-1", 4, {"balance": "75.50", "owner": "Customer a-1", "branch": "north"},
                                       "open", T0 + 4)
    assert outputs[-1] == DerivedEvent("BalanceChanged:a-1-4", "BalanceChanged", "a-1", "Account", 4, "a-1-4",
                                       T0 + 4, {"balance": "75.50", "delta": "5.50"})
    assert p.stats.as_dict() == {"read": 4, "applied": 4, "duplicates": 0, "rejected": 0, "held": 0,
                                 "gap_timeouts": 0, "derived": 3}


def test_a_repeated_event_id_or_a_consumed_version_is_a_counted_duplicate_and_emits_nothing():
    p, _ = pattern()
    run(p, history())
    again = [history()[2], event(2, "Deposited", event_id="other-id", amount="1"),
             event(5, "Deposited", event_id="a-1-3", amount="1")]
    assert run(p, again) == []
    assert p.stats.duplicates == 3 and p.projection("a-1").version == 4
    assert p.projection("a-1").state["balance"] == "75.50"


def test_remembered_ids_are_bounded_to_the_last_versions():
    p, _ = pattern(remembered_event_ids=2)
    run(p, history())
    assert list(p.aggregates["a-1"].seen) == ["a-1-3", "a-1-4"]
    # an id older than that is still a duplicate by its version; a new version with it is then taken as new
    assert run(p, [event(5, "Deposited", event_id="a-1-1", amount="1")])[0].version == 5


def test_reordering_within_an_aggregate_gives_the_same_state_as_in_order():
    in_order, _ = pattern()
    expected = run(in_order, history())
    for seed in range(5):
        shuffled = history()
        random.Random(seed).shuffle(shuffled)
        p, _ = pattern()
        outputs = run(p, shuffled)
        assert outputs == expected  # applied in version order, whatever the arrival order
        assert p.projections() == in_order.projections()


def test_a_gap_holds_the_later_events_until_it_fills():
    p, clock = pattern(gap_timeout_s=60)
    first, second, third, fourth = history()
    assert run(p, [first, third, fourth]) == [run(pattern()[0], [first])[0]]
    assert p.stats.held == 2 and p.aggregates["a-1"].blocked_since == 1_000.0
    clock.advance(59)
    assert p.tick() == [] and run(p, [fourth]) == []  # a duplicate of a held event
    outputs = run(p, [second])
    assert [o.version for o in outputs if isinstance(o, StateChanged)] == [2, 3, 4]
    assert p.aggregates["a-1"].blocked_since is None and not p.aggregates["a-1"].held
    clock.advance(3600)
    assert p.tick() == []


def test_a_gap_that_does_not_fill_in_time_dead_letters_the_held_events_and_the_aggregate_stays_put():
    p, clock = pattern(gap_timeout_s=60)
    first, second, third, fourth = history()
    run(p, [first, third, fourth, opened("a-2")])
    clock.advance(59.5)
    assert p.tick() == []
    clock.advance(0.5)
    dead = run(p, [event(2, "Deposited", "a-2", amount="1")])  # any event checks the clock first
    assert kinds(dead) == ["EventRejected", "EventRejected", "StateChanged", "DerivedEvent"]
    assert [(d.error_type, d.reason, d.step, d.event.version) for d in dead[:2]] == [
        ("VersionGapError", "version gap not filled within 60 s", "pipeline", 3),
        ("VersionGapError", "version gap not filled within 60 s", "pipeline", 4)]
    assert isinstance(dead[0], EventRejected) and isinstance(dead[0], Rejected) and p.stats.gap_timeouts == 1
    assert p.projection("a-1").version == 1 and p.projection("a-1").state["balance"] == "0.00"
    # the missing version still applies; the dead letters redriven after it apply in turn
    assert [o.version for o in run(p, [second]) if isinstance(o, StateChanged)] == [2]
    redriven = [d.event.as_dict() for d in dead[:2]]
    assert [o.version for o in run(p, redriven) if isinstance(o, StateChanged)] == [3, 4]
    assert p.projection("a-1").state["balance"] == "75.50"


def test_a_gap_times_out_from_when_the_aggregate_began_to_wait_for_the_missing_version():
    p, clock = pattern(gap_timeout_s=60)
    run(p, [opened(), event(4, "Deposited", amount="1")])  # waits for 2 (and 3) from t=0
    clock.advance(50)
    run(p, [event(2, "Deposited", amount="1")])  # moved on; now waits for 3 from t=50
    clock.advance(50)
    assert p.tick() == []
    clock.advance(10)
    assert [d.event.version for d in p.tick()] == [4]


def test_finish_dead_letters_what_is_still_held():
    p, _ = pattern()
    run(p, [opened(), event(3, "Deposited", amount="1")])
    finished = p.finish()
    assert [(d.reason, d.event.version) for d in finished] == [("version gap not filled by the end of the input", 3)]
    assert p.stats.gap_timeouts == 0 and p.stats.rejected == 1


def test_an_aggregate_holds_at_most_max_held_events():
    p, _ = pattern(max_held_events=2)
    outputs = run(p, [opened(), *(event(v, "Deposited", amount="1") for v in (3, 4, 5))])
    assert kinds(outputs) == ["StateChanged", "EventRejected"] and outputs[1].event.version == 5
    assert outputs[1].reason == "field 'version': more than 2 events held behind a version gap"


@pytest.mark.parametrize("refused, reason", [
    (event(3, "Withdrawn", amount="100.01"), "withdrawal would take the balance below zero"),
    (event(3, "Deposited", amount="-5"), "field 'data.amount': must be a positive number"),
    (event(3, "Teleported"), "field 'type': unknown event type"),
])
def test_a_refused_event_leaves_the_state_and_consumes_its_version(refused, reason):
    p, _ = pattern()
    run(p, history()[:2])
    outputs = run(p, [refused])
    assert kinds(outputs) == ["EventRejected", "StateChanged"]
    assert outputs[1] == p.projection("a-1")  # the store learns the version it consumed
    assert (outputs[0].error_type, outputs[0].reason, outputs[0].step) == ("DomainRuleError", reason, "pipeline")
    assert outputs[0].event.as_dict() == refused
    assert p.projection("a-1") == StateChanged("a-1", 3, {"balance": "100.00", "owner": "Customer a-1",
                                                         "branch": "north"}, "open", T0 + 2)
    assert run(p, [refused]) == [] and p.stats.duplicates == 1  # its version is consumed
    assert kinds(run(p, [event(4, "Deposited", amount="1")])) == ["StateChanged", "DerivedEvent"]
    assert p.stats.rejected_by_reason == {reason: 1}


def test_nothing_applies_after_close_or_before_opening():
    p, _ = pattern()
    outputs = run(p, [event(1, "Deposited", amount="5"), event(2, "AccountOpened", owner="o", branch="b"),
                      event(3, "AccountClosed"), event(4, "Deposited", amount="5")])
    assert [getattr(o, "reason", o.status if isinstance(o, StateChanged) else None) for o in outputs] == [
        "account not opened yet", None, "open", "closed", "account is closed", "closed"]
    assert state_line(p.projection("a-1")) == {"aggregate_id": "a-1", "version": 4, "status": "closed",
                                                "state": {"balance": "0.00", "owner": "o", "branch": "b"}}


def test_an_event_of_another_aggregate_type_is_refused_and_consumes_nothing():
    p, _ = pattern()
    outputs = run(p, [{**opened(), "aggregate_type": "Loan"}, opened()])
    assert outputs[0].reason == "field 'aggregate_type': unknown aggregate type" and outputs[1].version == 1


def test_a_bad_record_is_rejected_at_validate_and_counted_by_reason():
    p, _ = pattern()
    outputs = run(p, [{**opened(), "version": "x"}, b"not json", opened()])
    assert outputs[:2] == [Rejected("EventError", "field 'version': must be a positive integer", "validate"),
                           Rejected("EventError", "field 'payload': is neither a map nor the JSON text of an object",
                                    "validate")]
    assert p.stats.read == 3 and p.stats.rejected == 2 and p.projection("a-1").version == 1


def test_derived_event_ids_are_deterministic_and_a_duplicate_derives_nothing_again():
    large = event(3, "Withdrawn", amount="10000")
    events = [opened(), event(2, "Deposited", amount="25000"), large]
    first, _ = pattern()
    second, _ = pattern()
    derived = [o for o in run(first, events) if isinstance(o, DerivedEvent)]
    assert [d.event_id for d in derived] == ["BalanceChanged:a-1-2", "BalanceChanged:a-1-3", "LargeWithdrawal:a-1-3"]
    assert [o for o in run(second, events) if isinstance(o, DerivedEvent)] == derived
    assert run(first, [large, dict(large)]) == [] and first.stats.derived == 3
    below, _ = pattern(large_withdrawal="10000.01")
    assert "LargeWithdrawal" not in kinds(run(below, events)) and \
        [o.type for o in run(pattern()[0], events) if isinstance(o, DerivedEvent)].count("LargeWithdrawal") == 1


def test_branch_totals_equal_the_sum_of_balances_per_branch():
    p, _ = pattern()
    stream = generate_bank_stream(BankStreamConfig(accounts=12, branches=("north", "south", "east"),
                                                   refused_rate=0.1, duplicate_rate=0.05, swap_rate=0.1, seed=3))
    run(p, [payload for payload, _ in stream.records])
    sums: dict[str, Decimal] = {}
    for projection in p.projections():
        branch = projection.state["branch"]
        sums[branch] = sums.get(branch, Decimal(0)) + Decimal(projection.state["balance"])
    assert p.branch_totals() == dict(sorted(sums.items())) and len(sums) == 3


def test_the_pattern_projects_the_synthetic_ground_truth_through_every_fault():
    for seed in range(3):
        stream = generate_bank_stream(BankStreamConfig(refused_rate=0.1, duplicate_rate=0.1, swap_rate=0.2,
                                                       gap_rate=0.2, bad_rate=0.05, seed=seed))
        p, _ = pattern()
        outputs = run(p, [payload for payload, _ in stream.records]) + p.finish()
        assert {line["aggregate_id"]: line for line in map(state_line, p.projections())} == stream.expected()
        labels = [label for _, label in stream.records]
        assert p.stats.duplicates == labels.count("duplicate")
        assert sum(o.step == "validate" for o in outputs if isinstance(o, Rejected)) == \
            sum(label.startswith("bad:") for label in labels)


def test_outputs_are_deterministic_envelopes_keyed_by_aggregate():
    p, _ = pattern()
    outputs = run(p, [opened(), event(2, "Deposited", amount="12.5")])
    changed, derived = outputs[1], outputs[2]
    record = derived_record(derived)
    assert (record.id, record.type, record.source, record.partition_key, record.event_time) == (
        "BalanceChanged:a-1-2", "BalanceChanged", "shardline.eventsourcing", "a-1", T0 + 2)
    assert record.payload["data"] == '{"balance":"12.50","delta":"12.50"}' and from_avro(to_avro(record)) == record
    assert derived_record(derived) == record  # the same id every time
    projection = projection_record(changed)
    assert (projection.id, projection.partition_key, projection.payload["version"]) == ("state:a-1:2", "a-1", 2)
    assert from_avro(to_avro(projection)) == projection
    assert list(state_line(changed)) == ["aggregate_id", "version", "state", "status"]
    assert list(state_line(changed)["state"]) == ["balance", "owner", "branch"]
