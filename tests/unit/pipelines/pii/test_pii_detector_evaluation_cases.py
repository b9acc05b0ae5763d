"""Cases the PII evaluation (benchmarks/pii/evaluate.py) found: each was a miss or a false positive once."""
import pytest

from pipelines.pii import Scanner, default_detectors


@pytest.fixture(scope="module")
def scanner():
    return Scanner(default_detectors(("US", "GB")))


def found(scanner, text, entity):
    return [text[m.start:m.end] for m in scanner.scan(text) if m.entity == entity]


@pytest.mark.parametrize(("text", "expected"), [
    ("SS# 569631536 confirmed by phone.", ["569631536"]),                 # "ss#" is a cue (no \b after "#")
    ("Courier will ring 011 65 6124 4911 before delivery.", []),           # three groups of a longer number
    ("Order #667040006 shipped. Please file the SSN 123-45-6789 today.", ["123-45-6789"]),  # cue in another sentence
])
def test_ssn(scanner, text, expected):
    assert found(scanner, text, "US_SSN") == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Payment retried with 2131-998099-35029 after it failed.", ["2131-998099-35029"]),  # legacy 15-digit JCB
    ("Card 3540-2947-3073-2323-05 09/27 cvv 123 on file.", ["3540-2947-3073-2323-05"]),  # expiry after an 18-digit card
    ("Customer read card 4111111111111111 09/27 cvv 123.", ["4111111111111111"]),
    ("qty 2 4111 1111 1111 1111 ok", ["4111 1111 1111 1111"]),             # a short group before the card
    ("Label 9205 5000 0000 0000 0000 00 printed.", []),                    # 22-digit parcel id, judged whole
    ("Tracking 1ZCX5E696651125473 shows delivered.", []),                  # digits glued to letters
    ("Number 6095-5006-4339-1737 rejected.", []),                          # bad Luhn; a group its own size stays
    ("Title 9788335299252 is back-ordered. Customer read card 4111 1111 1111 1111.", ["4111 1111 1111 1111"]),
    ("Mobile 0033 1 23 45 17 92 confirmed. Please cc the bank.", []),      # groups of 1-2 digits: not a card
    ("Reach her at +55-11-2345-1660 tomorrow. Card no. unknown.", []),     # "+": a phone number
])
def test_cards(scanner, text, expected):
    assert found(scanner, text, "CREDIT_CARD") == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("PO 2019-414491 approved by finance.", []),                            # 4-6: no US number is grouped so
    ("Ordered the book ISBN 3-7246-3260-6.", []),
    ("Gift: ISBN 0-7638-3761-X, wrapped.", []),
    ("Charged £65761.88 twice.", []),
    ("Order number 8172617520 is on hold.", []),                            # "number" alone is no phone cue
    ("Refund dated 05/27/2025. 213.222.8171 is the customer's new mobile.", ["213.222.8171"]),
    ("4066638470 is the customer's new mobile.", ["4066638470"]),           # cue after the number
    ("Tel: 415-555-0132 / 415-555-0133.", ["415-555-0132", "415-555-0133"]),
    ("Call +44 (0)20 7946 0958 ext. 204 today.", ["+44 (0)20 7946 0958 ext. 204"]),
    ("Mobile 0086 10 1234 6578 confirmed.", ["0086 10 1234 6578"]),
])
def test_phones(scanner, text, expected):
    assert found(scanner, text, "PHONE_NUMBER") == expected
