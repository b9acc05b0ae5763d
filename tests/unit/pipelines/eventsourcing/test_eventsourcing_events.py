"""Events, the bank's rules and the config: refusals name the field and never the value."""
from decimal import Decimal

import pytest

from pipelines.engine import rejection
from pipelines.eventsourcing.bank import ACCOUNT, amount_of, bank_domain
from pipelines.eventsourcing.config import EventSourcingConfig
from pipelines.eventsourcing.domain import Domain, DomainRuleError
from pipelines.eventsourcing.events import Event, EventError, parse_event

NOW_MS = 1_767_225_600_000
GOOD = {"aggregate_id": "acct-SECRET", "aggregate_type": "Account", "version": 3, "event_id": "evt-SECRET",
        "type": "Deposited", "occurred_at": NOW_MS, "data": {"amount": "12.50"}}


@pytest.mark.parametrize("change, field, reason", [
    ({"aggregate_id": None}, "aggregate_id", "is required"),
    ({"aggregate_id": ""}, "aggregate_id", "must be a non-empty string"),
    ({"aggregate_id": 42}, "aggregate_id", "must be a non-empty string"),
    ({"aggregate_id": "a\ud800"}, "aggregate_id", "must be Unicode text (it holds a lone surrogate)"),
    ({"aggregate_type": ""}, "aggregate_type", "must be a non-empty string"),
    ({"event_id": None}, "event_id", "is required"),
    ({"type": ""}, "type", "must be a non-empty string"),
    ({"version": None}, "version", "is required"),
    ({"version": 0}, "version", "must be a positive integer"),
    ({"version": -3}, "version", "must be a positive integer"),
    ({"version": "x"}, "version", "must be a positive integer"),
    ({"version": "3"}, "version", "must be a positive integer"),
    ({"version": 1.0}, "version", "must be a positive integer"),
    ({"version": True}, "version", "must be a positive integer"),
    ({"version": 2**63}, "version", "must be at most 2**63 - 1"),
    ({"occurred_at": None}, "occurred_at", "is required"),
    ({"occurred_at": "yesterday-SECRET"}, "occurred_at", "must be epoch milliseconds or ISO 8601 text"),
    ({"occurred_at": -1}, "occurred_at", "must lie between 1970 and the year 9999"),
    ({"data": [1, 2]}, "data", "must be a map (or its JSON text)"),
    ({"data": "not-json-SECRET"}, "data", "must be a map (or its JSON text)"),
    ({"data": {1: "x"}}, "data", "must be a map (or its JSON text)"),
])
def test_a_bad_event_names_its_field_and_never_its_value(change, field, reason):
    payload = {**GOOD, **change}
    if change.get("aggregate_id", 0) is None:
        del payload["aggregate_id"]
    with pytest.raises(EventError) as caught:
        parse_event(payload)
    assert (caught.value.field, caught.value.reason) == (field, reason)
    rejected = rejection(caught.value, "validate")
    assert rejected.error_type == "EventError" and rejected.reason == f"field '{field}': {reason}"
    assert "SECRET" not in str(caught.value) and "SECRET" not in rejected.reason


def test_an_event_comes_from_a_map_or_json_bytes_with_iso_or_epoch_times_and_data_as_json_text():
    from_bytes = parse_event(b'{"aggregate_id": "a", "aggregate_type": "Account", "version": 1, "event_id": "e",'
                             b' "type": "AccountOpened", "occurred_at": "2026-01-01T01:00:00+01:00"}')
    assert from_bytes == Event("a", "Account", 1, "e", "AccountOpened", NOW_MS, {})
    assert parse_event({**GOOD, "data": '{"amount": "1.00"}'}).data == {"amount": "1.00"}
    assert parse_event(parse_event(GOOD).as_dict()) == parse_event(GOOD)
    for bad in (b"{not json", b"\xff", [1], "text"):
        with pytest.raises(EventError) as caught:
            parse_event(bad)
        assert caught.value.field == "payload"


@pytest.mark.parametrize("amount, reason", [
    (0, "must be a positive number"), ("-1", "must be a positive number"), ("abc", "must be a positive number"),
    ("NaN", "must be a positive number"), (float("inf"), "must be a positive number"),
    (True, "must be a positive number"), (None, "must be a positive number"), ([5], "must be a positive number"),
    ("0.001", "must be whole cents (at most 2 decimal places)"), ("1e15", "must be below 10**15"),
])
def test_an_amount_is_a_positive_number_of_whole_cents(amount, reason):
    with pytest.raises(DomainRuleError) as caught:
        amount_of({"amount": amount})
    assert (caught.value.field, caught.value.reason) == ("data.amount", reason)


def test_amounts_as_text_or_numbers_are_exact_decimals():
    assert [amount_of({"amount": a}) for a in ("12.50", 12.5, 0.1, 7, "3.000")] == \
        [Decimal("12.50"), Decimal("12.5"), Decimal("0.1"), Decimal(7), Decimal("3.000")]


def _apply(bank, state, version, event_type, **data):
    return bank.apply(state, Event("a-1", ACCOUNT, version, f"e-{version}", event_type, NOW_MS, data))


@pytest.mark.parametrize("history, refused, reason", [
    ([], ("Deposited", {"amount": "5"}), "account not opened yet"),
    ([], ("AccountOpened", {"owner": "o"}), "field 'data.branch': is required (a non-empty string)"),
    ([("AccountOpened", {"owner": "o", "branch": "b"})], ("AccountOpened", {"owner": "o", "branch": "b"}),
     "account already opened"),
    ([("AccountOpened", {"owner": "o", "branch": "b"}), ("Deposited", {"amount": "5"})],
     ("Withdrawn", {"amount": "5.01"}), "withdrawal would take the balance below zero"),
    ([("AccountOpened", {"owner": "o", "branch": "b"}), ("AccountClosed", {})], ("Deposited", {"amount": "5"}),
     "account is closed"),
    ([("AccountOpened", {"owner": "o", "branch": "b"})], ("Frozen", {}), "field 'type': unknown event type"),
])
def test_the_bank_refuses_what_its_rules_forbid_with_fixed_words(history, refused, reason):
    bank = bank_domain()
    state = bank.new_state()
    for version, (event_type, data) in enumerate(history, 1):
        state = _apply(bank, state, version, event_type, **data)
    before = dict(state)
    with pytest.raises(DomainRuleError) as caught:
        _apply(bank, state, len(history) + 1, refused[0], **refused[1])
    assert rejection(caught.value, "pipeline").reason == reason
    assert state == before  # the rule worked on a copy


def test_the_bank_derives_balance_changes_and_large_withdrawals_at_its_threshold():
    bank = bank_domain(large_withdrawal=100)
    state = _apply(bank, bank.new_state(), 1, "AccountOpened", owner="o", branch="b")
    deposited = _apply(bank, state, 2, "Deposited", amount="250")
    event = Event("a-1", ACCOUNT, 3, "e-3", "Withdrawn", NOW_MS, {"amount": "100"})
    withdrawn = bank.apply(deposited, event)
    assert bank.derive(deposited, withdrawn, event) == [
        ("BalanceChanged", {"balance": "150.00", "delta": "-100.00"}),
        ("LargeWithdrawal", {"amount": "100.00", "balance": "150.00", "threshold": "100.00"})]
    small = Event("a-1", ACCOUNT, 4, "e-4", "Withdrawn", NOW_MS, {"amount": "99.99"})
    assert [t for t, _ in bank.derive(withdrawn, bank.apply(withdrawn, small), small)] == ["BalanceChanged"]


def test_a_domain_takes_plain_functions_and_refuses_a_second_rule_for_one_type():
    domain = Domain("notes")

    @domain.applies("Noted")
    def noted(state, data, event):
        return {**state, "notes": state.get("notes", 0) + 1}

    @domain.derives
    def echo(before, after, event):
        return [("Echoed", {"notes": after["notes"]})]

    event = Event("n", "Note", 1, "e", "Noted", 0)
    after = domain.apply(domain.new_state(), event)
    assert after == {"notes": 1} and domain.derive({}, after, event) == [("Echoed", {"notes": 1})]
    assert domain.status(after) is None and domain.event_types == ("Noted",)
    with pytest.raises(ValueError):
        domain.applies("Noted")(noted)


def test_the_config_refuses_unknown_keys_by_name_and_what_cannot_work():
    with pytest.raises(ValueError, match="'gap_timeout'"):
        EventSourcingConfig.from_dict({"gap_timeout": 5})
    assert EventSourcingConfig.from_dict({"large_withdrawal": 2500.5}).large_withdrawal == Decimal("2500.5")
    for bad in ({"gap_timeout_s": 0}, {"gap_timeout_s": float("nan")}, {"remembered_event_ids": 0},
                {"max_held_events": 1.5}, {"large_withdrawal": "-1"}, {"large_withdrawal": "lots"},
                {"large_withdrawal": True}, {"snapshot_every_s": -1}, {"snapshot_every_events": 0}):
        with pytest.raises(ValueError):
            EventSourcingConfig.from_dict(bad)
