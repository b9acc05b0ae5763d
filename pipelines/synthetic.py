"""Seeded synthetic records for demos, tests and benchmarks.

Hand-written rather than Faker: generation sits on the producer's hot path in
the demo and benchmarks, and Faker costs ~100 µs per record.  The values are
shaped like real ones (Luhn-valid card numbers, SSNs that pass the SSA rules)
so that the PII masking pattern has something real to find.
"""
from __future__ import annotations

import random
import zlib
from typing import Callable, Iterator

from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.records import Record

FIRST_NAMES = ("Ava", "Liam", "Noah", "Emma", "Olivia", "Mateo", "Sofia", "Aarav", "Yuki", "Chloe",
               "Amara", "Lucas", "Mia", "Ethan", "Zara", "Omar", "Ines", "Hana", "Leo", "Nia")
LAST_NAMES = ("Smith", "Garcia", "Nguyen", "Okafor", "Kowalski", "Rossi", "Tanaka", "Silva", "Muller",
              "Johnson", "Haddad", "Kim", "Dubois", "Novak", "Patel", "Larsen", "Moreau", "Costa")
STREETS = ("Main St", "Oak Ave", "Pine Rd", "Maple Dr", "Cedar Ln", "Elm St", "Lake View Blvd", "Hill Ct")
CITIES = (("Seattle", "WA", "98101"), ("Austin", "TX", "73301"), ("Boston", "MA", "02108"),
          ("Denver", "CO", "80202"), ("Miami", "FL", "33101"), ("Chicago", "IL", "60601"))
SITES = ("shop.example.com", "books.example.org", "travel.example.net", "games.example.com", "food.example.io")
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CAD")
# (provider, IIN prefixes, length)
CARD_BRANDS = (("visa", ("4",), 16), ("mastercard", ("51", "52", "53", "54", "55", "2221", "2720"), 16),
               ("amex", ("34", "37"), 15), ("discover", ("6011", "65"), 16), ("jcb", ("3528", "3589"), 16),
               ("diners", ("36",), 14), ("unionpay", ("62",), 19), ("maestro", ("6759",), 12))


def luhn_check_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def card_number(rng: random.Random) -> tuple[str, str]:
    provider, prefixes, length = rng.choice(CARD_BRANDS)
    body = rng.choice(prefixes)
    body += "".join(str(rng.randrange(10)) for _ in range(length - 1 - len(body)))
    return provider, body + luhn_check_digit(body)


def ssn(rng: random.Random) -> str:
    area = rng.randrange(1, 899)
    area += area >= 666  # 666 is never issued
    return f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"


# Free-text notes: about half carry PII, in the shapes people type it.  (template, kinds of PII it holds)
NOTE_TEMPLATES = (
    ("Customer asked about a refund for order {order}; please call back on {phone} after 5pm. "
     "Ticket escalated to tier 2 support for review.", ("phone",)),
    ("Chargeback dispute opened by the cardholder. Reply sent to {email} with the receipt "
     "and the store's returns policy attached.", ("email",)),
    ("Payment declined twice at checkout; customer read card {card} over the phone, "
     "identity verified and the payment retried successfully.", ("card",)),
    ("Login from a new device at {ip} flagged by the risk engine; step-up verification "
     "passed, no further action needed from the fraud team.", ("ip",)),
    ("Identity check for a large transfer: SSN {ssn} matched the account; contact {email} "
     "or {phone} if the bank asks again.", ("ssn", "email", "phone")),
    ("Gift purchase, wrapped and shipped by express courier. Delivery window confirmed with the "
     "buyer by email; no issues reported so far this week.", ()),
    ("Subscription renewed at the annual rate, loyalty discount applied as agreed with the account "
     "manager during last week's call. No refund is due.", ()),
    ("Order {order} split into two parcels because one item was back-ordered; the customer "
     "agreed by chat and the second parcel ships on Friday.", ()),
    ("Address change requested through the app and confirmed by the security question; "
     "new billing cycle starts next month as usual.", ()),
)
# Area codes in service (libphonenumber checks the number's structure, and an N11 "area code" is none).
AREA_CODES = ("206", "212", "303", "305", "312", "415", "512", "617", "702", "713", "404", "615")


def note_phone(rng: random.Random) -> str:
    """A US phone number as people write it, often with an extension."""
    area, exchange, line = rng.choice(AREA_CODES), rng.randrange(200, 999), rng.randrange(0, 10000)
    if exchange % 100 == 11:  # N11 codes are not exchanges
        exchange += 1
    number = rng.choice((f"+1 {area}-{exchange}-{line:04d}", f"({area}) {exchange}-{line:04d}",
                         f"{area}.{exchange}.{line:04d}", f"+1 ({area}) {exchange} {line:04d}"))
    extension = rng.choice(("", "", f" ext. {rng.randrange(1, 9999)}", f" x{rng.randrange(1, 999)}",
                            f" extension {rng.randrange(1, 99)}"))
    return number + extension


def note_card(rng: random.Random) -> str:
    _, digits = card_number(rng)
    separator = rng.choice((" ", "-", ""))
    return separator.join(digits[i:i + 4] for i in range(0, len(digits), 4))


def note_ip(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    return "2001:db8:" + ":".join(f"{rng.randrange(1, 0x10000):x}" for _ in range(6))


def free_text_note(rng: random.Random, first: str = "Jane", last: str = "Doe") -> tuple[str, list[tuple[str, str]]]:
    """A ~150-character support note, and the PII planted in it as (kind, value) pairs."""
    template, kinds = rng.choice(NOTE_TEMPLATES)
    values = {"order": f"A-{rng.randrange(100000, 999999)}"}
    planted = []
    for kind in kinds:
        if kind == "phone":
            value = note_phone(rng)
        elif kind == "email":
            value = f"{first.lower()}.{last.lower()}{rng.randrange(100)}@{rng.choice(('example.com', 'mail.example.org'))}"
        elif kind == "card":
            value = note_card(rng)
        elif kind == "ssn":
            value = ssn(rng).replace("-", rng.choice(("-", " ", "-")))
        else:
            value = note_ip(rng)
        values[kind] = value
        planted.append((kind, value))
    return template.format(**values), planted


#: The payment fields whose values identify someone, as checks for unmasked PII look for them.  Names
#: are left out: short common words ("Kim", "Leo") turn up inside other text by chance.
PAYMENT_PII_FIELDS = ("ssn", "address", "credit_card_number", "phone_number", "email", "ipv4")


def payment(rng: random.Random, event_time_ms: int, notes_rng: random.Random | None = None) -> tuple[dict, list[str]]:
    """One transaction, and the PII it holds: its ``PAYMENT_PII_FIELDS`` values, then those planted in its notes.

    ``notes`` comes from ``notes_rng`` (default ``rng``): a separate stream, so the other fields have the
    values they had before ``notes`` existed, for the same seed.
    """
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    city, state, postcode = rng.choice(CITIES)
    provider, card = card_number(rng)
    payload = {
        "first_name": first, "last_name": last, "ssn": ssn(rng),
        "address": f"{rng.randrange(1, 9999)} {rng.choice(STREETS)}, {city}, {state}",
        "postcode": postcode, "country": "US", "purchase_site": rng.choice(SITES),
        "credit_card_number": card, "credit_card_provider": provider,
        "currency": rng.choice(CURRENCIES), "purchase_value": round(rng.uniform(1, 2500), 2),
        "transaction_date": event_time_ms,
        "phone_number": f"+1-{rng.randrange(201, 990)}-{rng.randrange(200, 999)}-{rng.randrange(0, 10000):04d}",
        "email": f"{first.lower()}.{last.lower()}{rng.randrange(100)}@example.com",
        "ipv4": f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
    }
    payload["notes"], planted = free_text_note(notes_rng or rng, first, last)
    return payload, [payload[name] for name in PAYMENT_PII_FIELDS] + [value for _, value in planted]


GENERATORS: dict[str, tuple[str, str, Callable[[random.Random, int, random.Random], tuple[dict, list[str]]]]] = {
    # name: (record type, partition-key field, generator of (payload, the PII it holds))
    "payments": ("payment.created", "credit_card_number", payment),
}
KINDS = (*GENERATORS, "telemetry")
"""Every kind ``synthetic_records`` makes: telemetry comes from ``pipelines.timeseries.synthetic``."""


def synthetic_records(kind: str, seed: int = 7, clock: Clock = SYSTEM_CLOCK, telemetry=None) -> Iterator[Record]:
    """An endless stream of envelope records of ``kind`` (payments or telemetry; ``telemetry`` is the
    ``TelemetryConfig`` of the latter, default its defaults with ``seed``)."""
    if kind == "telemetry":
        from pipelines.timeseries.synthetic import TelemetryConfig, telemetry_records

        return telemetry_records(telemetry or TelemetryConfig(seed=seed), clock)
    return (record for record, _ in synthetic_records_with_pii(kind, seed, clock))


def synthetic_records_with_pii(kind: str, seed: int = 7,
                               clock: Clock = SYSTEM_CLOCK) -> Iterator[tuple[Record, list[str]]]:
    """``synthetic_records``, each with the PII values it holds (see ``payment``)."""
    if kind == "telemetry":  # readings hold no PII
        return ((record, []) for record in synthetic_records(kind, seed, clock))
    if kind not in GENERATORS:
        raise ValueError(f"unknown synthetic kind {kind!r}; choose one of {sorted(KINDS)}")
    return _records_with_pii(kind, seed, clock)


def _records_with_pii(kind: str, seed: int, clock: Clock) -> Iterator[tuple[Record, list[str]]]:
    record_type, key_field, generate = GENERATORS[kind]
    rng = random.Random(seed)
    notes_rng = random.Random(f"{seed}/notes")
    sequence = 0
    while True:
        now_ms = int(clock.time() * 1000)
        payload, pii = generate(rng, now_ms, notes_rng)
        # Partition by an opaque account id rather than the raw card number: keys show up in
        # Kinesis metadata and logs, where PII must not.
        key = f"acct-{zlib.crc32(str(payload[key_field]).encode()) & 0xFFFFFF:06x}"
        sequence += 1
        yield Record(id=f"{kind}-{seed}-{sequence}", type=record_type, source=f"synthetic/{kind}",
                     partition_key=key, payload=payload, event_time=now_ms), pii
