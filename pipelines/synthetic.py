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
SENSORS = ("temperature", "pressure", "humidity", "vibration")


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


def payment(rng: random.Random, event_time_ms: int) -> dict:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    city, state, postcode = rng.choice(CITIES)
    provider, card = card_number(rng)
    return {
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


def telemetry(rng: random.Random, event_time_ms: int) -> dict:
    return {"device_id": f"device-{rng.randrange(200):04d}", "sensor": rng.choice(SENSORS),
            "value": round(rng.gauss(20.0, 5.0), 3), "unit": "si", "transaction_date": event_time_ms}


GENERATORS: dict[str, tuple[str, str, Callable[[random.Random, int], dict]]] = {
    # name: (record type, partition-key field, generator)
    "payments": ("payment.created", "credit_card_number", payment),
    "telemetry": ("telemetry.reading", "device_id", telemetry),
}


def synthetic_records(kind: str, seed: int = 7, clock: Clock = SYSTEM_CLOCK) -> Iterator[Record]:
    """An endless stream of envelope records of ``kind`` (payments or telemetry)."""
    if kind not in GENERATORS:
        raise ValueError(f"unknown synthetic kind {kind!r}; choose one of {sorted(GENERATORS)}")
    record_type, key_field, generate = GENERATORS[kind]
    rng = random.Random(seed)
    sequence = 0
    while True:
        now_ms = int(clock.time() * 1000)
        payload = generate(rng, now_ms)
        # Partition by an opaque account id rather than the raw card number: keys show up in
        # Kinesis metadata and logs, where PII must not.
        key = f"acct-{zlib.crc32(str(payload[key_field]).encode()) & 0xFFFFFF:06x}"
        sequence += 1
        yield Record(id=f"{kind}-{seed}-{sequence}", type=record_type, source=f"synthetic/{kind}",
                     partition_key=key, payload=payload, event_time=now_ms)
