"""The synthetic bank stream: seeded, with its ground truth and the faults it was asked for."""
from collections import Counter

from pipelines.clock import FakeClock
from pipelines.eventsourcing.outputs import state_line
from pipelines.eventsourcing.pattern import EventSourcingPattern
from pipelines.eventsourcing.synthetic import BAD_KINDS, BankStreamConfig, bank_envelope, generate_bank_stream
from pipelines.records import from_avro, to_avro

FAULTS = dict(refused_rate=0.1, duplicate_rate=0.1, swap_rate=0.2, gap_rate=0.2, bad_rate=0.05)


def test_the_same_seed_makes_the_same_stream_and_another_seed_another():
    config = BankStreamConfig(seed=5, **FAULTS)
    first, again = generate_bank_stream(config), generate_bank_stream(config)
    assert first.records == again.records and first.history == again.history and first.dropped == again.dropped
    assert generate_bank_stream(BankStreamConfig(seed=6, **FAULTS)).records != first.records


def test_a_clean_stream_is_every_account_in_version_order_and_its_truth_is_what_the_pattern_projects():
    stream = generate_bank_stream(BankStreamConfig(accounts=8, seed=2))
    assert {label for _, label in stream.records} == {"event"} and stream.dropped == {}
    last: dict[str, int] = {}
    for payload, _ in stream.records:
        assert payload["version"] == last.get(payload["aggregate_id"], 0) + 1
        last[payload["aggregate_id"]] = payload["version"]
    pattern = EventSourcingPattern(clock=FakeClock(0))
    for payload, _ in stream.records:
        pattern.on_payload(payload)
    assert {line["aggregate_id"]: line for line in map(state_line, pattern.projections())} == stream.truth
    assert pattern.stats.rejected == 0 and {line["status"] for line in stream.truth.values()} <= {"open", "closed"}


def test_the_faults_come_at_their_rates_with_their_labels():
    stream = generate_bank_stream(BankStreamConfig(accounts=40, **FAULTS))
    labels = Counter(label.split(":")[0] for _, label in stream.records)
    assert labels["duplicate"] and labels["refused"] and labels["bad"] and stream.dropped
    assert {label for _, label in stream.records if label.startswith("bad:")} == {f"bad:{k}" for k in BAD_KINDS}
    swapped = 0
    last: dict[str, int] = {}
    for payload, label in stream.records:
        if label == "event" or label.startswith("refused:"):
            swapped += payload["version"] < last.get(payload["aggregate_id"], 0)
            last[payload["aggregate_id"]] = max(last.get(payload["aggregate_id"], 0), payload["version"])
    assert swapped
    for account, version in stream.dropped.items():
        assert version < len(stream.history[account])  # never the last: events wait behind it
        assert all(p.get("version") != version for p, label in stream.records
                   if isinstance(p, dict) and p.get("aggregate_id") == account and label != "duplicate")


def test_a_duplicate_is_the_same_event_sent_again_after_it():
    stream = generate_bank_stream(BankStreamConfig(accounts=10, duplicate_rate=0.2))
    seen = set()
    for payload, label in stream.records:
        key = (payload["aggregate_id"], payload["event_id"])
        assert (key in seen) == (label == "duplicate")
        seen.add(key)


def test_every_record_gets_a_valid_envelope_keyed_by_account_that_the_pattern_reads_as_its_payload():
    stream = generate_bank_stream(BankStreamConfig(accounts=4, seed=1, **FAULTS))
    from_payloads, from_envelopes = EventSourcingPattern(clock=FakeClock(0)), EventSourcingPattern(clock=FakeClock(0))
    for number, (payload, _) in enumerate(stream.records):
        record = bank_envelope(payload, number, seed=1)
        assert from_avro(to_avro(record)) == record and record.id == f"bank-1-{number}"
        assert record.partition_key == (payload.get("aggregate_id") or "unknown" if isinstance(payload, dict)
                                        else "unknown")
        assert from_envelopes.on_record(record) == from_payloads.on_payload(payload)
