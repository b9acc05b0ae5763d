"""The masking pipeline function every engine runs, its by-name entry point, and the synthetic notes."""
import itertools
import json
import random
import re

import pytest

from connectors.testing import make_record
from pipelines.clock import FakeClock
from pipelines.pii import MaskingError, PolicyError, builtin_policy
from pipelines.pii.pipeline import (MaskingPipeline, PiiPipelineConfig, mask_record, masking_pipeline,
                                    reset_default_pipeline)
from pipelines.records import Record, to_avro, to_json_line
from pipelines.synthetic import free_text_note, synthetic_records

ENV = {"SHARDLINE_PII_HMAC_KEY": "ab" * 32, "SHARDLINE_PII_FPE_KEY": "cd" * 16}


def record(payload, **fields) -> Record:
    return make_record(valid=False, **{"type": "payment.created", "partition_key": "acct-1",
                                       "event_time": 1_700_000_000_000, "payload": payload, **fields})


def test_only_the_payload_changes_and_counts_hold_no_values():
    seen = []
    pipeline = masking_pipeline(builtin_policy("payments", environ=ENV), observe=seen.append)
    original = record({"ssn": "123-45-6789", "email": "jo@example.com", "country": "US"})
    masked = pipeline(original)
    assert (masked.id, masked.type, masked.source, masked.partition_key, masked.event_time) == \
        (original.id, original.type, original.source, original.partition_key, original.event_time)
    assert masked.payload["country"] == "US" and "6789" not in to_json_line(masked)
    assert seen == [{"US_SSN": 1, "EMAIL": 1}] and pipeline.totals == {"US_SSN": 1, "EMAIL": 1}
    assert pipeline.records == 1


def test_a_json_bytes_payload_is_masked_in_place_and_stays_bytes():
    pipeline = masking_pipeline(builtin_policy("payments", environ=ENV))
    masked = pipeline(record(b'{"ssn": "123-45-6789", "purchase_value": 1.10}'))
    assert isinstance(masked.payload, bytes) and masked.payload.endswith(b'"purchase_value": 1.10}')
    assert b"6789" not in masked.payload


def test_records_that_cannot_be_masked_raise_for_the_dead_letters():
    pipeline = masking_pipeline(builtin_policy("payments", environ=ENV))
    with pytest.raises(MaskingError, match="field 'ssn'"):
        pipeline(record({"ssn": b"\xff123-45-6789"}))
    with pytest.raises(MaskingError, match="not valid UTF-8"):
        pipeline(record(b"\xff opaque"))
    assert pipeline.records == 0


def test_an_invalid_envelope_is_refused_before_the_masking_runs():
    from pipelines.engine import RecordPath

    pipeline = masking_pipeline(builtin_policy("payments", environ=ENV))
    outcome = RecordPath(pipeline).from_bytes(to_avro(record({"country": "US"}, partition_key="")))
    assert (outcome.step, outcome.reason) == ("validate", "field 'partition_key': must be a non-empty string")
    assert pipeline.records == 0


def test_mask_record_reads_the_policy_from_the_environment(monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SHARDLINE_PII_POLICY", "generic")
    reset_default_pipeline()
    try:
        masked = mask_record(record({"anything": "mail jo@example.com"}))
        assert masked.payload == {"anything": "mail [EMAIL]"}
        monkeypatch.delenv("SHARDLINE_PII_POLICY")
        assert PiiPipelineConfig().policy == "payments"
        reset_default_pipeline()
        monkeypatch.delenv("SHARDLINE_PII_FPE_KEY")
        with pytest.raises(PolicyError, match="SHARDLINE_PII_FPE_KEY is not set"):
            mask_record(record({"ssn": "123-45-6789"}))
    finally:
        reset_default_pipeline()


def test_the_pipeline_is_deterministic_so_engines_can_be_compared():
    records = list(itertools.islice(synthetic_records("payments", seed=4, clock=FakeClock(1_700_000_000)), 50))
    first = [MaskingPipeline(builtin_policy("payments", environ=ENV))(r) for r in records]
    second = [MaskingPipeline(builtin_policy("payments", environ=ENV))(r) for r in records]
    assert first == second


def test_synthetic_payments_have_notes_and_every_planted_value_is_masked():
    records = list(itertools.islice(synthetic_records("payments", seed=9, clock=FakeClock(1_700_000_000)), 3))
    assert all(len(r.payload["notes"]) > 100 for r in records)
    pipeline = masking_pipeline(builtin_policy("payments", environ=ENV))
    rng = random.Random(5)
    kinds = set()
    for _ in range(400):
        text, planted = free_text_note(rng, "Ava", "Smith")
        masked = pipeline(record({"notes": text})).payload["notes"]
        digits = re.sub(r"\D", "", masked)
        for kind, value in planted:
            kinds.add(kind)
            value_digits = re.sub(r"\D", "", value)
            assert value not in masked and (len(value_digits) < 9 or value_digits not in digits), (kind, masked)
    assert kinds == {"phone", "email", "card", "ssn", "ip"}


def test_synthetic_notes_are_deterministic_by_seed():
    def notes(seed):
        return [json.dumps(r.payload) for r in
                itertools.islice(synthetic_records("payments", seed=seed, clock=FakeClock(0)), 20)]
    assert notes(1) == notes(1) and notes(1) != notes(2)


def test_a_card_in_full_width_digits_is_masked_not_a_crash_nor_a_leak():
    # The PII Unicode issue's poison pill: the Luhn check raised IndexError on it, and the payments policy's
    # tokenizer, reading ASCII digits only, would have passed it through in clear.
    card = "４９２９１２３４５６７８９０１５"
    record = Record(id="fw", type="payment.created", source="t", partition_key="k", event_time=1,
                    payload={"credit_card_number": card, "notes": f"paid with {card[:4]} {card[4:8]} {card[8:12]} "
                                                                  f"{card[12:]}, thanks"})
    masked = masking_pipeline(builtin_policy("payments", environ=ENV))(record).payload
    middle = "345678"  # the digits between the BIN and the last four: what must not survive, in any script
    for text in (masked["credit_card_number"], masked["notes"]):
        assert card[6:12] not in text and middle not in text.replace(" ", "")
    assert masked["notes"].startswith("paid with 4929 12") and masked["notes"].endswith("9015, thanks")
