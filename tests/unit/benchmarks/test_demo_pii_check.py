"""The demo's check that what reached S3 is masked, and its verdict."""
import itertools

from connectors.flink_launch import DEMO_KEYS
from benchmarks.demo import DemoConfig, S3Tally, pii_left, summarise, written_per_second
from pipelines.pii import Masker, builtin_policy
from pipelines.records import Record
from pipelines.synthetic import PAYMENT_PII_FIELDS, synthetic_records_with_pii

ENVIRON = {"SHARDLINE_PII_HMAC_KEY": DEMO_KEYS["hmac"], "SHARDLINE_PII_FPE_KEY": DEMO_KEYS["fpe"]}


def produced(count=300):
    return list(itertools.islice(synthetic_records_with_pii("payments", seed=11), count))


def test_every_value_a_record_was_produced_with_is_found_in_it_unmasked():
    records = produced()
    assert all(pii_left(record, values) == len(values) for record, values in records)
    # The fields' values, then the notes': about half the notes carry PII.
    assert all(values[:len(PAYMENT_PII_FIELDS)] == [record.payload[f] for f in PAYMENT_PII_FIELDS]
               for record, values in records)
    assert sum(len(values) > len(PAYMENT_PII_FIELDS) for _, values in records) > 100


def test_none_is_left_once_the_payments_policy_has_masked_the_record():
    masker = Masker(builtin_policy("payments", environ=ENVIRON))  # the demo job's policy and keys
    for record, values in produced():
        masked = Record(**{**record.as_dict(), "payload": masker.mask(record.payload).payload})
        assert pii_left(masked, values) == 0, record.id


def test_a_value_written_with_other_separators_still_counts():
    record = Record.new("payment.created", "test", "k", {"notes": "ssn 536 22 1234, card 4111-1111-1111-1111"})
    assert pii_left(record, ["536-22-1234", "4111111111111111", "nobody@example.com"]) == 2


def test_pii_left_in_s3_fails_the_demo_even_when_the_counts_agree():
    clean = summarise(2, S3Tally(ids={"a", "b"}, latencies_ms=[1.0, 2.0], pii_checked=14), 1.0, 1.0, None)
    assert clean["ok"] and "OK: every produced record is in S3, masked" in clean["report"]
    leaky = summarise(2, S3Tally(ids={"a", "b"}, latencies_ms=[1.0, 2.0], pii_checked=14, pii_left=1),
                      1.0, 1.0, None)
    assert leaky["counts_agree"] and not leaky["ok"]
    assert "FAILED: 1 of the produced PII values reached S3 unmasked" in leaky["report"]
    passthrough = summarise(2, S3Tally(ids={"a", "b"}, latencies_ms=[1.0, 2.0]), 1.0, 1.0, None,
                            DemoConfig(job="passthrough"))
    assert passthrough["ok"] and passthrough["pii_values_left"] is None and "PII left" not in passthrough["report"]


def test_the_written_rate_runs_from_the_first_record_produced_to_the_last_object():
    tally = S3Tally(ids={"a", "b", "c", "d"}, latencies_ms=[5.0, 900.0, 40.0, 7.0],
                    produce_started_ms=10_000.0, last_written_ms=12_000.0)
    summary = summarise(4, tally, 1.0, 1.0, None)
    assert summary["written_records_per_second"] == 2.0  # 4 records over the 2 s from the first put
    assert (summary["latency_p50_ms"], summary["latency_max_ms"]) == (40.0, 900.0)
    assert written_per_second(4, S3Tally(last_written_ms=12_000.0)) is None  # nothing was produced
    assert written_per_second(0, tally) is None
