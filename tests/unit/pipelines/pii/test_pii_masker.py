"""The masker over whole payloads: payments, generic (cells) and classify policies."""
import json
import random
import re

import pytest

from pipelines.pii import Masker, MaskingError, Match, builtin_policy, parse_policy

ENV = {"SHARDLINE_PII_HMAC_KEY": "ab" * 32, "SHARDLINE_PII_FPE_KEY": "cd" * 16}
NOTE_PII = {
    "US_SSN": "536-22-1234", "CREDIT_CARD": "5500 0000 0000 0004", "EMAIL": "jo.doe@mail.example.org",
    "PHONE_NUMBER": "+44 20 7946 0958", "IP_ADDRESS": "2001:db8::8a2e:370:7334",
}
RECORD = {
    "first_name": "Jane", "last_name": "Okafor", "ssn": "123-45-6789",
    "address": "221 Baker Street, Springfield, IL 62704", "postcode": "62704", "country": "US",
    "purchase_site": "shop.example.com", "credit_card_number": "4111 1111 1111 1111",
    "credit_card_provider": "VISA 16 digit", "currency": "USD", "purchase_value": 129.99,
    "transaction_date": "2024-03-01T10:00:00Z", "phone_number": "(415) 555-0132 x77",
    "email": "jane.okafor@example.com", "ipv4": "192.168.10.77",
    "notes": (f"Caller gave SSN {NOTE_PII['US_SSN']} and card {NOTE_PII['CREDIT_CARD']}; reply to "
              f"{NOTE_PII['EMAIL']} or {NOTE_PII['PHONE_NUMBER']}, seen from {NOTE_PII['IP_ADDRESS']}."),
}
PII_FIELDS = ("first_name", "last_name", "ssn", "address", "postcode", "credit_card_number", "phone_number",
              "email", "ipv4")
KEPT_FIELDS = ("country", "purchase_site", "credit_card_provider", "currency", "purchase_value",
               "transaction_date")


def payments():
    return Masker(builtin_policy("payments", environ=ENV))


def leaks(masked: dict, raw_values) -> list[str]:
    """Raw values (or their digits, when there are enough to identify) still present in the output."""
    text = json.dumps(masked)
    digits_only = re.sub(r"\D", "", text)
    found = []
    for value in raw_values:
        digits = re.sub(r"\D", "", value)
        if value in text or (len(digits) >= 9 and digits in digits_only):
            found.append(value)
    return found


def test_payments_policy_masks_every_pii_field_of_a_record():
    masked, counts = payments().mask(RECORD)
    assert list(masked) == list(RECORD)  # same fields, same order
    for name in PII_FIELDS:
        assert masked[name] != RECORD[name], name
    assert leaks(masked, [RECORD[f] for f in PII_FIELDS] + list(NOTE_PII.values())) == []
    assert counts == {"PERSON_NAME": 2, "US_SSN": 2, "ADDRESS": 1, "POSTAL_CODE": 1, "CREDIT_CARD": 2,
                      "PHONE_NUMBER": 2, "EMAIL": 2, "IP_ADDRESS": 2}


def test_fields_the_policy_does_not_touch_pass_through_as_the_same_object():
    record = {**RECORD, "unlisted": object(), "notes": "nothing personal here"}
    masked, _ = payments().mask(record)
    for name in (*KEPT_FIELDS, "unlisted", "notes"):
        assert masked[name] is record[name]


def test_shapes_of_the_masked_payment_fields():
    masked, _ = payments().mask(RECORD)
    for name in ("first_name", "last_name", "ssn", "email", "ipv4", "phone_number"):
        assert re.fullmatch(r"[0-9a-f]{64}", masked[name]), name
    assert masked["address"] == "**********"
    assert masked["postcode"] == "62***"
    assert re.fullmatch(r"4111 11\d\d \d{4} 1111", masked["credit_card_number"])
    # Free text: each finding replaced in place, per the policy's actions section.
    assert re.fullmatch(r"Caller gave SSN \[US_SSN\] and card 5500 00\d\d \d{4} 0004; reply to [0-9a-f]{64} "
                        r"or \[PHONE_NUMBER\], seen from \[IP_ADDRESS\]\.", masked["notes"])


def test_hash_and_tokenize_are_deterministic_per_key():
    first, _ = payments().mask(RECORD)
    second, _ = payments().mask(RECORD)
    assert first == second
    other_keys = {"SHARDLINE_PII_HMAC_KEY": "12" * 32, "SHARDLINE_PII_FPE_KEY": "34" * 16}
    third, _ = Masker(builtin_policy("payments", environ=other_keys)).mask(RECORD)
    assert third["email"] != first["email"] and third["credit_card_number"] != first["credit_card_number"]


def test_non_utf8_bytes_get_a_clear_error_naming_the_field_only():
    with pytest.raises(MaskingError) as info:
        payments().mask({**RECORD, "ssn": b"\xff\xfe123-45-6789"})
    assert info.value.field == "ssn"
    assert "not valid UTF-8" in str(info.value) and "6789" not in str(info.value)
    with pytest.raises(MaskingError, match="payload is not valid UTF-8"):
        payments().mask_json(b'{"ssn": "\xff"}')


def test_bytes_numbers_none_and_nested_values():
    masked, counts = payments().mask({"ssn": "123-45-6789".encode(), "credit_card_number": 4111111111111111,
                                      "email": None, "first_name": ""})
    assert isinstance(masked["ssn"], bytes) and b"6789" not in masked["ssn"]
    assert masked["credit_card_number"].startswith("411111") and "111111111" not in masked["credit_card_number"][6:]
    assert masked["email"] is None and masked["first_name"] == ""
    assert counts == {"US_SSN": 1, "CREDIT_CARD": 1}
    with pytest.raises(MaskingError, match="field 'email': dict values cannot be masked"):
        payments().mask({"email": {"nested": "a@b.com"}})
    with pytest.raises(MaskingError, match="must be a mapping"):
        payments().mask(b"raw bytes")  # type: ignore[arg-type]


def test_mask_json_reads_a_utf8_json_object():
    masked, counts = payments().mask_json(json.dumps({"email": "a@b.com", "country": "US"}).encode())
    assert masked["country"] == "US" and masked["email"] != "a@b.com" and counts == {"EMAIL": 1}
    with pytest.raises(MaskingError, match="JSON list, not an object"):
        payments().mask_json(b"[1, 2]")


def test_drop_and_encrypt_actions_in_a_policy():
    spec = {"keys": {"aead": {"env": "AEAD"}},
            "fields": {"ssn": {"entity": "US_SSN", "action": "drop"},
                       "address": {"entity": "ADDRESS", "action": "encrypt", "key": "aead"},
                       "notes": "scan"},
            "actions": {"EMAIL": "drop"}}
    masker = Masker(parse_policy(spec, environ={"AEAD": "00" * 32}))
    masked, counts = masker.mask({"ssn": "123-45-6789", "address": "1 Main St", "notes": "mail a@b.com now"})
    assert "ssn" not in masked
    from pipelines.pii import decrypt
    assert decrypt(masked["address"], bytes(32)) == "1 Main St"
    assert masked["notes"] == "mail  now"
    assert counts == {"US_SSN": 1, "ADDRESS": 1, "EMAIL": 1}


def test_generic_policy_scans_every_field_and_uses_field_names():
    masker = Masker(builtin_policy("generic", environ={}))
    record = {"customer_first_name": "Zed", "first_name": "Jane", "dob": "1990-01-02", "comment": "call 415-555-0132",
              "amount": 12.5, "id": 4111111111111111, "flag": True, "status": "ok"}
    masked, counts = masker.mask(record)
    assert masked["first_name"] == "[PERSON_NAME]" and masked["dob"] == "[DATE_OF_BIRTH]"
    assert masked["comment"] == "call [PHONE_NUMBER]"
    assert masked["id"] == "[CREDIT_CARD]"  # a card number stored as an integer
    for name in ("customer_first_name", "amount", "flag", "status"):
        assert masked[name] is record[name]
    assert counts == {"PERSON_NAME": 1, "DATE_OF_BIRTH": 1, "PHONE_NUMBER": 1, "CREDIT_CARD": 1}


def test_classify_labels_columns_glue_style_with_an_injected_rng():
    spec = {"mode": "classify", "classify": {"sample": 0.5, "threshold": 0.6, "min_samples": 4,
                                             "unlabelled": "keep"},
            "scan": {"field_hints": False}}
    masker = Masker(parse_policy(spec, environ={}), rng=random.Random(3).random)
    rows = [{"contact": f"user{i}@example.com" if i % 5 else "n/a", "memo": "call 415-555-0132" if i == 0 else
             "fine", "qty": i} for i in range(40)]
    outputs = [masker.mask(row) for row in rows]
    assert masker.classifier.labels() == {"contact": "EMAIL"}
    report = masker.classifier.report()
    # Labels are sticky: once labelled (after min_samples), a column is no longer sampled.
    assert report["contact"].label == "EMAIL" and 4 <= report["contact"].samples < 40
    assert report["memo"].label is None and report["memo"].samples > 4
    # Once labelled, the whole column is masked (the "n/a" rows too); unlabelled columns pass (keep).
    last, counts = outputs[-1]
    assert last["contact"] == "**********"
    assert outputs[-5].payload["contact"] == "**********" and rows[-5]["contact"] == "n/a"
    assert last["memo"] is rows[-1]["memo"] and last["qty"] is rows[-1]["qty"]
    assert counts == {"EMAIL": 1}
    # The same seed gives the same labels and output (reproducible replays).
    again = Masker(parse_policy(spec, environ={}), rng=random.Random(3).random)
    assert [again.mask(row) for row in rows] == outputs


def test_classify_scans_unlabelled_columns_by_default():
    masker = Masker(parse_policy({"mode": "classify"}, environ={}), rng=random.Random(1).random)
    masked, counts = masker.mask({"memo": "card 4111 1111 1111 1111 please"})
    assert masked["memo"] == "card ********** please" and counts == {"CREDIT_CARD": 1}


def test_recognizer_hook_reaches_the_masker():
    class FakeModel:
        def recognize(self, text):
            i = text.find("Zed")
            return [Match("PERSON_NAME", i, i + 3, 0.9)] if i >= 0 else []

    masker = Masker(builtin_policy("generic", environ={}), recognizer=FakeModel())
    masked, counts = masker.mask({"memo": "ask Zed"})
    assert masked["memo"] == "ask [PERSON_NAME]" and counts == {"PERSON_NAME": 1}


def test_errors_and_counts_never_carry_values():
    masked, counts = payments().mask(RECORD)
    assert all(isinstance(k, str) and isinstance(v, int) for k, v in counts.items())
    assert leaks(counts, [RECORD[f] for f in PII_FIELDS]) == []


def test_classify_columns_reports_entities_per_field():
    from pipelines.pii import ClassifySettings, Scanner, classify_columns
    rows = [{"contact": f"u{i}@example.com", "name": "x", "memo": "call 415-555-0132" if i % 4 == 0 else "ok"}
            for i in range(200)]
    report = classify_columns(rows, Scanner(), ClassifySettings(sample=0.5, threshold=0.2, min_samples=10),
                              rng=random.Random(5).random)
    assert report["contact"].label == "EMAIL" and report["contact"].entities["EMAIL"] == report["contact"].samples
    memo = report["memo"]
    assert memo.label == "PHONE_NUMBER" and 0 < memo.entities["PHONE_NUMBER"] < memo.samples
    assert report["name"].label == "PERSON_NAME" and report["name"].entities == {}  # by its name
    assert 60 <= report["contact"].samples <= 140
