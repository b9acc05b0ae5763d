"""Synthetic payment records with ground truth: the 15 transaction fields plus a free-text ``notes`` field.

    gen = PaymentRecordGenerator(seed=7)
    for labelled in gen.records(1000):
        labelled.payload          # {"first_name": ..., ..., "notes": "Customer read card 4111 ..."}
        labelled.spans            # PII in notes: Span(entity="CREDIT_CARD", start=20, end=39, variant="visa-16-space")
        labelled.negatives        # hard negatives in notes (order numbers, ISBNs, ...): must NOT be detected
        labelled.field_variants   # the shape of each typed PII field, e.g. {"ssn": "ssn-space", ...}

Seeded: the same seed gives the same records.  Notes are about 150 characters,
built from sentence templates with zero to two PII values (mostly the goal types:
SSN, card, email, phone, IP; sometimes names, addresses, IBANs, MACs, AWS keys,
dates of birth) and zero to two hard negatives: order numbers, dates and
times, amounts, parcel tracking ids, card-like digit runs failing the Luhn
check, and ISBNs.

One rule, stated because it shapes recall: values written as bare digits (an
SSN as ``123456789``, a phone number as ``4155550132``) only appear after a cue
word ("SSN", "call"), as people write them; without one they cannot be told
from the order numbers among the hard negatives, by us or by anyone.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from benchmarks.pii.values import DATES_FROM, DATES_TO, ValueFactory, group_digits

NEGATIVE = "NEGATIVE"

#: Typed fields and the entity each one holds (the ground truth for typed-field evaluation).
TYPED_FIELDS: dict[str, str] = {
    "first_name": "PERSON_NAME", "last_name": "PERSON_NAME", "ssn": "US_SSN", "address": "ADDRESS",
    "postcode": "POSTAL_CODE", "credit_card_number": "CREDIT_CARD", "phone_number": "PHONE_NUMBER",
    "email": "EMAIL", "ipv4": "IP_ADDRESS",
}
#: Fields holding no PII: every policy must leave them as they are.
PLAIN_FIELDS = ("country", "purchase_site", "credit_card_provider", "currency", "purchase_value", "transaction_date")
FIELDS = ("first_name", "last_name", "ssn", "address", "postcode", "country", "purchase_site", "credit_card_number",
          "credit_card_provider", "currency", "purchase_value", "transaction_date", "phone_number", "email", "ipv4")
#: The entity types with recall/precision goals in free text.
GOAL_ENTITIES = ("US_SSN", "CREDIT_CARD", "EMAIL", "PHONE_NUMBER", "IP_ADDRESS")


@dataclass(frozen=True)
class NoteMix:
    """How many PII values and hard negatives a note holds: relative weights for 0, 1 and 2 of each."""

    pii: tuple[int, int, int] = (15, 55, 30)
    negatives: tuple[int, int, int] = (30, 50, 20)


#: The evaluation's mix: PII in 85% of notes, hard negatives in 70% (harder than typical traffic).
EVALUATION_MIX = NoteMix()
#: A lighter mix, for context in the throughput benchmark: one PII value in half the notes,
#: one hard negative in a quarter.
TYPICAL_MIX = NoteMix(pii=(50, 50, 0), negatives=(75, 25, 0))


@dataclass(frozen=True, slots=True)
class Span:
    """``notes[start:end]`` holds a value of ``entity`` (``NEGATIVE`` for hard negatives) written as ``variant``."""

    entity: str
    start: int
    end: int
    variant: str


@dataclass(frozen=True)
class LabelledRecord:
    payload: dict[str, Any]
    spans: tuple[Span, ...]
    negatives: tuple[Span, ...]
    field_variants: dict[str, str] = field(default_factory=dict)


#: One sentence of a note: (before, value, after, entity or NEGATIVE, variant); fillers have no value.
Clause = tuple[str, str, str, str, str]


def compose_note(clauses: list[Clause], fillers: Sequence[str], rng: random.Random,
                 target: int) -> tuple[str, tuple[Span, ...], tuple[Span, ...]]:
    """Pad ``clauses`` with fillers to about ``target`` characters, shuffle, join them with spaces.

    Returns (notes, spans, negatives), the spans at the values' exact offsets.
    """
    length = sum(len(c[0]) + len(c[1]) + len(c[2]) + 1 for c in clauses)
    while length < target:
        filler = rng.choice(fillers)
        clauses.append((filler, "", "", "", ""))
        length += len(filler) + 1
    rng.shuffle(clauses)
    parts: list[str] = []
    spans: list[Span] = []
    negatives: list[Span] = []
    pos = 0
    for before, value, after, entity, variant in clauses:
        if parts:
            parts.append(" ")
            pos += 1
        parts.append(before)
        pos += len(before)
        if value:
            (negatives if entity == NEGATIVE else spans).append(Span(entity, pos, pos + len(value), variant))
            parts.append(value)
            pos += len(value)
        parts.append(after)
        pos += len(after)
    return "".join(parts), tuple(spans), tuple(negatives)


# --- sentence templates: "{}" is the value; (template, has a cue word) --------------------
_CUE, _PLAIN = True, False
_TEMPLATES: dict[str, tuple[tuple[str, bool], ...]] = {
    "US_SSN": (
        ("Verified SSN {} with the caller.", _CUE), ("Customer gave SSN: {} for the credit check.", _CUE),
        ("Social security number {} matches the application.", _CUE), ("SS# {} confirmed by phone.", _CUE),
        ("Updated soc. sec. no. {} on the account.", _CUE), ("ssn {}, identity check passed.", _CUE),
        ("Identity check passed with {} on file.", _PLAIN), ("Caller confirmed {} for verification.", _PLAIN),
        ("Applicant (SSN {}) approved.", _CUE), ("SSN:{} re-verified.", _CUE),
    ),
    "CREDIT_CARD": (
        ("Customer read card {} over the phone.", _CUE), ("Charged to card number {} twice.", _CUE),
        ("Card no. {} declined at checkout.", _CUE), ("CC {} expires 09/27.", _CUE),
        ("Payment retried with {} after the first attempt failed.", _PLAIN),
        ("Replacement for {} requested by the bank.", _PLAIN), ("Customer switched to {}; approved.", _PLAIN),
        ("Card {} 09/27 cvv 123 on file.", _CUE), ("{} was declined (insufficient funds).", _PLAIN),
        ("Stored card ({}) removed.", _CUE),
    ),
    "EMAIL": (
        ("Reply sent to {} with the receipt.", _PLAIN), ("Customer email changed to {}.", _PLAIN),
        ("Please cc {} on the dispute.", _PLAIN), ("Invoice mailed to {}, no bounce.", _PLAIN),
        ("Login email: {}.", _PLAIN), ("Duplicate account under {} merged.", _PLAIN),
        ("{} is the new contact address.", _PLAIN), ("Customer (mail {}) asked for a copy.", _PLAIN),
    ),
    "PHONE_NUMBER": (
        ("Please call back on {} after 5pm.", _CUE), ("Customer phone changed to {}.", _CUE),
        ("Reach her at {} tomorrow.", _CUE), ("Mobile {} confirmed by SMS.", _CUE), ("Tel. {}.", _CUE),
        ("Spoke with the buyer on {} about the delay.", _PLAIN), ("Voicemail left at {}.", _PLAIN),
        ("Courier will ring {} before delivery.", _PLAIN), ("{} is the customer's new mobile.", _CUE),
        ("Callback requested (tel {}).", _CUE),
    ),
    "IP_ADDRESS": (
        ("Login from {} flagged by the risk engine.", _PLAIN), ("Checkout request came from {}.", _PLAIN),
        ("IP {} is on the block list.", _PLAIN), ("Session started at {} and timed out.", _PLAIN),
        ("Device at {} retried 3 times.", _PLAIN), ("{} hit the rate limit.", _PLAIN),
        ("Proxy seen (client {}) twice.", _PLAIN),
    ),
    "PERSON_NAME": (
        ("Spoke with Mr. {} about the refund.", _CUE), ("Cardholder: {} disputes the charge.", _CUE),
        ("The caller said my name is {} and asked for a callback.", _CUE), ("Escalated by Ms. {} in billing.", _CUE),
    ),
    "ADDRESS": (("Ship to {} instead.", _PLAIN), ("Billing address now {}.", _PLAIN)),
    "IBAN": (("Refund to IBAN {} approved.", _PLAIN), ("Wire received from {} today.", _PLAIN)),
    "MAC_ADDRESS": (("Terminal MAC {} reported offline.", _PLAIN), ("Reader {} paired again.", _PLAIN)),
    "AWS_ACCESS_KEY": (("Key {} was pasted in the chat; rotate it.", _PLAIN),),
    "DATE_OF_BIRTH": (("DOB {} matches the ID.", _CUE), ("Customer born {} asked for senior pricing.", _CUE),
                      ("Date of birth: {} verified.", _CUE)),
}
_NEGATIVE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "order-number": ("Order #{} shipped.", "Re: order {}.", "Order number {} is on hold.", "Invoice {} reissued.",
                     "PO {} approved by finance.", "Ticket {} closed."),
    "date": ("Promised delivery by {}.", "Refund dated {}.", "Charge posted {}.", "Last contact {}."),
    "amount": ("Refund of {} issued.", "Charged {} twice.", "Balance of {} remains.", "Fee {} waived."),
    "tracking": ("Tracking {} shows delivered.", "Parcel {} returned to sender.", "Label {} printed."),
    "invalid-luhn": ("Reference {} failed validation.", "Customer typed {} which was rejected.",
                     "Number {} rejected: invalid check digit."),
    "isbn": ("Ordered the book ISBN {}.", "Title {} is back-ordered.", "Gift: ISBN {}, wrapped."),
}
_FILLERS = (
    "Customer contacted support about a delayed refund.", "Escalated to tier 2 for review.",
    "Please follow up within two days.", "No further action needed from the fraud team.",
    "Gift wrapped and shipped by express courier.", "Loyalty discount applied as agreed.",
    "Chargeback dispute opened.", "Receipt and returns policy attached.", "Customer was polite but in a hurry.",
    "Delivery window confirmed with the buyer.", "Risk score within normal range.", "Awaiting bank confirmation.",
    "Duplicate charge suspected.", "Subscription renewed at the annual rate.", "Store credit offered instead.",
    "Item arrived damaged, photos requested.", "Marked as resolved after the call.", "Address verified by courier.",
)
_ENTITY_WEIGHTS = {"US_SSN": 17, "CREDIT_CARD": 20, "EMAIL": 16, "PHONE_NUMBER": 20, "IP_ADDRESS": 14,
                   "PERSON_NAME": 3, "ADDRESS": 3, "IBAN": 2, "MAC_ADDRESS": 2, "AWS_ACCESS_KEY": 1,
                   "DATE_OF_BIRTH": 2}


class PaymentRecordGenerator:
    """Seeded records: ``records(n)`` or iterate ``stream()``."""

    def __init__(self, seed: int = 42, note_chars: int = 150, mix: NoteMix = EVALUATION_MIX) -> None:
        self.values = ValueFactory(seed)
        self.mix = mix
        self.rng: random.Random = self.values.rng
        self.note_chars = note_chars
        self._draw: dict[str, Callable[[], tuple[str, str]]] = {
            "US_SSN": self.values.ssn, "CREDIT_CARD": lambda: self.values.card()[:2], "EMAIL": self.values.email,
            "PHONE_NUMBER": self.values.phone, "IP_ADDRESS": self.values.ip, "PERSON_NAME": self._note_name,
            "ADDRESS": lambda: (self.values.fake.street_address(), "street"), "IBAN": self.values.iban,
            "MAC_ADDRESS": self.values.mac, "AWS_ACCESS_KEY": self.values.aws_key,
            "DATE_OF_BIRTH": self.values.date_of_birth,
        }
        self._negative: dict[str, Callable[[], tuple[str, str]]] = {
            "order-number": self._order_number, "date": self._date, "amount": self._amount,
            "tracking": self._tracking, "invalid-luhn": self._invalid_luhn, "isbn": self.values.isbn,
        }
        self._entities = tuple(_ENTITY_WEIGHTS)
        self._weights = tuple(_ENTITY_WEIGHTS.values())

    def records(self, count: int) -> list[LabelledRecord]:
        return [self.record() for _ in range(count)]

    def stream(self) -> Iterator[LabelledRecord]:
        while True:
            yield self.record()

    def record(self) -> LabelledRecord:
        v, fake, rng = self.values, self.values.fake, self.rng
        ssn, ssn_variant = v.ssn()
        card, card_variant, provider = v.card()
        phone, phone_variant = v.phone()
        email, email_variant = v.email()
        ip = fake.ipv4()
        notes, spans, negatives = self.note()
        payload = {
            "first_name": fake.first_name(), "last_name": fake.last_name(), "ssn": ssn,
            "address": fake.street_address(),
            "postcode": fake.postcode() if rng.random() < 0.8 else fake.zipcode_plus4(),
            "country": fake.country(), "purchase_site": fake.domain_name(), "credit_card_number": card,
            "credit_card_provider": provider, "currency": fake.currency_code(),
            "purchase_value": round(rng.uniform(1, 2500), 2),
            "transaction_date": fake.date_time_between(start_date=DATES_FROM, end_date=DATES_TO).isoformat(timespec="seconds") + "Z",
            "phone_number": phone, "email": email, "ipv4": ip, "notes": notes,
        }
        variants = {"ssn": ssn_variant, "credit_card_number": card_variant, "phone_number": phone_variant,
                    "email": email_variant}
        return LabelledRecord(payload, spans, negatives, variants)

    # --- notes -------------------------------------------------------------------------
    def note(self) -> tuple[str, tuple[Span, ...], tuple[Span, ...]]:
        rng = self.rng
        clauses: list[Clause] = []
        for _ in range(rng.choices((0, 1, 2), self.mix.pii)[0]):
            entity = rng.choices(self._entities, self._weights)[0]
            value, variant = self._draw[entity]()
            templates = _TEMPLATES[entity]
            if value.isdigit():  # see the module doc: bare digits are only PII after a cue
                templates = tuple(t for t in templates if t[1]) or templates
            template = rng.choice(templates)[0]
            before, after = template.split("{}")
            pre, post, variant = self._wrap(entity, value, variant)
            clauses.append((before + pre, value, post + after, entity, variant))
        for _ in range(rng.choices((0, 1, 2), self.mix.negatives)[0]):
            kind = rng.choice(tuple(self._negative))
            value, variant = self._negative[kind]()
            before, after = rng.choice(_NEGATIVE_TEMPLATES[kind]).split("{}")
            clauses.append((before, value, after, NEGATIVE, f"{kind}:{variant}"))
        # Fillers overshoot the target by half a sentence on average, hence the lower range.
        target = rng.randint(self.note_chars - 50, self.note_chars + 10)
        return compose_note(clauses, _FILLERS, rng, target)

    def _wrap(self, entity: str, value: str, variant: str) -> tuple[str, str, str]:
        """Punctuation written around some values: ports after IPs, angle brackets or mailto: around emails."""
        roll = self.rng.random()
        if entity == "IP_ADDRESS" and roll < 0.2:
            if variant == "ipv4":
                return "", f":{self.rng.randint(1, 65535)}", variant + "-port"
            return "[", f"]:{self.rng.randint(1, 65535)}", variant + "-bracket-port"
        if entity == "EMAIL" and roll < 0.2:
            return ("<", ">", variant + "-angle") if roll < 0.1 else ("mailto:", "", variant + "-mailto")
        return "", "", variant

    def _note_name(self) -> tuple[str, str]:
        return self.values.name()

    # --- hard negatives ------------------------------------------------------------------
    def _order_number(self) -> tuple[str, str]:
        v, rng = self.values, self.rng
        style = rng.choice(("digits", "prefixed", "dated"))
        if style == "digits":
            return v.digits(rng.randint(6, 12)), "digits"
        if style == "prefixed":
            return f"{rng.choice(('ORD', 'INV', 'SO', 'TKT'))}-{v.digits(rng.randint(5, 9))}", "prefixed"
        return f"{rng.randint(2019, 2026)}-{v.digits(6)}", "dated"

    def _date(self) -> tuple[str, str]:
        when = self.values.fake.date_time_between(start_date=DATES_FROM, end_date=DATES_TO)
        style = self.rng.choice(("iso", "us", "eu", "long", "timestamp", "time"))
        return when.strftime({"iso": "%Y-%m-%d", "us": "%m/%d/%Y", "eu": "%d.%m.%Y", "long": "%B %d, %Y",
                              "timestamp": "%Y-%m-%dT%H:%M:%SZ", "time": "%H:%M:%S"}[style]), style

    def _amount(self) -> tuple[str, str]:
        value = self.rng.uniform(1, 250_000)
        style = self.rng.choice(("usd", "code", "eu", "gbp"))
        if style == "usd":
            return f"${value:,.2f}", style
        if style == "code":
            return f"USD {value:,.2f}", style
        if style == "eu":
            return f"{value:,.2f}".replace(",", " ").replace(".", ",") + " EUR", style
        return f"£{value:.2f}", style

    def _tracking(self) -> tuple[str, str]:
        v, rng = self.values, self.rng
        style = rng.choice(("ups", "usps", "fedex", "dhl"))
        if style == "ups":
            alnum = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(6))
            return f"1Z{alnum}{v.digits(10)}", style
        if style == "usps":
            digits = rng.choice(("9400", "9205", "9361")) + v.digits(18)
            return (group_digits(digits, "space") if rng.random() < 0.5 else digits), style
        if style == "fedex":
            digits = v.digits(12)
            return (group_digits(digits, "space") if rng.random() < 0.5 else digits), style
        return v.digits(10), style

    def _invalid_luhn(self) -> tuple[str, str]:
        digits, brand, length = self.values.card_digits(valid=False)
        grouping = self.rng.choice(("none", "space", "dash"))
        return group_digits(digits, grouping), f"{brand}-{length}-{grouping}"
