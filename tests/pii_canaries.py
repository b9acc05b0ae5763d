"""Canary PII for leak tests, and a scanner that looks for it in whatever a run left behind.

Every sink is read in each form it can hold the values in: raw bytes, gunzipped,
Avro containers and envelopes decoded to JSON, dead letters with their data
decoded (Avro envelopes too), bulk lines.  A hit is a raw canary value, or its
digits-only form, anywhere, or its digits-only form inside the digits of one
string value (so ``536 22 1234`` written another way is still found).  The
Unicode canaries (full-width digits, no-break spaces, zero-width characters,
internationalized emails, a Cyrillic name) are also looked for folded to ASCII
and with their separators removed, in views folded the same way.
"""
from __future__ import annotations

import base64
import gzip
import io
import json
import re
import zlib
from typing import Iterable, Iterator

import fastavro

from pipelines.pii.normalize import fold
from pipelines.records import Record, from_avro, to_json_line
from pipelines.synthetic import luhn_check_digit

_CARD_BODY = "492912345678901"
CANARIES = {
    "US_SSN": "536-22-1234",
    "CREDIT_CARD": _CARD_BODY + luhn_check_digit(_CARD_BODY),
    "EMAIL": "zebulon.canary@example.org",
    "PHONE_NUMBER": "+1 415-555-0187 ext. 42",
    "IP_ADDRESS": "203.0.113.77",
    "PERSON_NAME": "Zebulon",
    "LAST_NAME": "Quartermaine",
}
_SPACED_CARD = " ".join(CANARIES["CREDIT_CARD"][i:i + 4] for i in range(0, 16, 4))
CANARY_NOTES = (f"Cardholder: Zebulon Quartermaine gave SSN {CANARIES['US_SSN']} and card {_SPACED_CARD}; reply to "
                f"{CANARIES['EMAIL']} or call {CANARIES['PHONE_NUMBER']}; seen from {CANARIES['IP_ADDRESS']}.")
_WIDE_BODY, _HIDDEN_BODY = "455673758689985", "542523343010990"
_WIDE_CARD = _WIDE_BODY + luhn_check_digit(_WIDE_BODY)
_HIDDEN_CARD = _HIDDEN_BODY + luhn_check_digit(_HIDDEN_BODY)
#: The same kinds of PII written as real text writes them (issue 15's forms), each a canary of its own.
UNICODE_CANARIES = {
    "CREDIT_CARD_FULL_WIDTH": "\u3000".join(_WIDE_CARD[i:i + 4] for i in range(0, 16, 4)).translate(
        str.maketrans("0123456789", "０１２３４５６７８９")),
    "CREDIT_CARD_INVISIBLE": "\u00a0".join("\u200b".join(_HIDDEN_CARD[i:i + 4]) for i in range(0, 16, 4)),
    "US_SSN_EN_DASH": "457\u201355\u20135462",
    "PHONE_NUMBER_NB_HYPHEN": "+1 206\u2011555\u20110143",
    "EMAIL_IDN": "zoë.kanarie@müller-beispiel.de",
    "EMAIL_PUNYCODE": "kanarie@" + "bücher-beispiel.de".encode("idna").decode("ascii"),
    "PERSON_NAME_CYRILLIC": "Зебулон Квартермейн",
    "IBAN_NO_BREAK": "DE89\u00a03704\u00a00044\u00a00532\u00a00130\u00a000",
}
UNICODE_NOTES = (f"Name: {UNICODE_CANARIES['PERSON_NAME_CYRILLIC']}. Karte {UNICODE_CANARIES['CREDIT_CARD_FULL_WIDTH']} "
                 f"und Kreditkarte {UNICODE_CANARIES['CREDIT_CARD_INVISIBLE']} gesperrt. SSN "
                 f"{UNICODE_CANARIES['US_SSN_EN_DASH']} geprüft. Telefon {UNICODE_CANARIES['PHONE_NUMBER_NB_HYPHEN']}. "
                 f"Antwort an {UNICODE_CANARIES['EMAIL_IDN']} oder {UNICODE_CANARIES['EMAIL_PUNYCODE']}. IBAN "
                 f"{UNICODE_CANARIES['IBAN_NO_BREAK']} erstattet.")
_NOT_DIGITS = re.compile(r"\D")
_NOT_ALNUM = re.compile(r"[\W_]")


def canary_payment(event_time_ms: int) -> dict:
    """A payments payload whose PII fields and notes hold the canaries."""
    return {
        "first_name": CANARIES["PERSON_NAME"], "last_name": CANARIES["LAST_NAME"], "ssn": CANARIES["US_SSN"],
        "address": "12 Canary Wharf Rd, Seattle, WA", "postcode": "98101", "country": "US",
        "purchase_site": "shop.example.com", "credit_card_number": CANARIES["CREDIT_CARD"],
        "credit_card_provider": "visa", "currency": "USD", "purchase_value": 12.5, "transaction_date": event_time_ms,
        "phone_number": CANARIES["PHONE_NUMBER"], "email": CANARIES["EMAIL"], "ipv4": CANARIES["IP_ADDRESS"],
        "notes": CANARY_NOTES + " " + UNICODE_NOTES,
    }


def forms() -> list[str]:
    """Every canary raw, digits-only (ASCII, when it has enough digits to identify anyone), and, for the
    Unicode ones, folded to ASCII and with its separators and invisible characters removed."""
    out = []
    for value in (*CANARIES.values(), *UNICODE_CANARIES.values(), *UNICODE_CANARIES["PERSON_NAME_CYRILLIC"].split()):
        out.append(value)
        digits = _NOT_DIGITS.sub("", fold(value))
        if len(digits) >= 9 and digits != value:
            out.append(digits)
        if not value.isascii():
            out.append(fold(value))
            out.append(_NOT_ALNUM.sub("", fold(value)))
    return list(dict.fromkeys(out))


def digit_forms() -> list[str]:
    return [f for f in forms() if f.isdigit()]


# --- reading sinks ---------------------------------------------------------------------------

def _record_views(record: Record) -> Iterator[str]:
    yield to_json_line(record)
    payload = record.payload
    if isinstance(payload, bytes):
        yield payload.decode("utf-8", "replace")
    else:
        for value in payload.values():
            if isinstance(value, bytes):
                yield value.decode("utf-8", "replace")


def views(data: bytes) -> Iterator[str]:
    """Text views of one stored blob: raw, decompressed, Avro-decoded, dead letters decoded."""
    yield data.decode("utf-8", "replace")
    yield data.decode("latin-1")
    for unpack in (gzip.decompress, zlib.decompress):
        try:
            inner = unpack(data)
        except Exception:  # noqa: BLE001 - not this encoding
            continue
        yield from views(inner)
    try:
        yield from _record_views(from_avro(data))
    except Exception:  # noqa: BLE001 - not an envelope
        pass
    try:
        for raw in fastavro.reader(io.BytesIO(data)):
            yield json.dumps(raw, default=lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else repr(v),
                             ensure_ascii=False)
    except Exception:  # noqa: BLE001 - not an Avro container
        pass
    for line in data.splitlines():
        try:
            letter = json.loads(line)
        except ValueError:
            continue
        if isinstance(letter, dict) and isinstance(letter.get("data"), str):
            try:
                inner = base64.b64decode(letter["data"], validate=True)
            except ValueError:
                continue
            yield from views(inner)


def _strings(text: str) -> Iterable[str]:
    try:
        document = json.loads(text)
    except ValueError:
        return [text]
    out: list[str] = []

    def walk(value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                out.append(k)
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str):
            out.append(value)
    walk(document)
    return out or [text]


def leaks(blobs: dict[str, bytes | str]) -> list[str]:
    """``where: form`` for every canary form found in any view of any blob (empty: no leak)."""
    found = []
    every, digits = forms(), digit_forms()
    for where, blob in blobs.items():
        data = blob.encode("utf-8") if isinstance(blob, str) else blob
        for view in views(data):
            folded_view = fold(view)  # an output holding "４１１１" still holds the card
            hits = {form for form in every if form in view or form in folded_view}
            for line in view.splitlines() or [view]:
                for value in _strings(line):
                    value_digits = _NOT_DIGITS.sub("", fold(value))
                    hits.update(d for d in digits if d in value_digits)
            found.extend(f"{where}: {hit}" for hit in sorted(hits))
    return sorted(set(found))
