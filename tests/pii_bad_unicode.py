"""Bad Unicode input for the PII engines (issue 15): every input holds canary PII, so a leak is found.

As JSON lines (``shardline pii mask``, ``shardline run --input``), each an envelope of the payments payload:

- ``surrogate``: ``notes`` ends in the escape ``"\\ud800"``: ``json.loads`` gives a str no UTF-8 writer takes;
- ``not_utf8``: raw byte 0xff inside the ``notes`` string;
- ``big_note``: a ``notes`` of exactly 1 MiB (canaries at its start, middle and end);
- ``full_width``: a card number in full-width digits in ``notes`` (``４１１１ １１１１ １１１１ １１１１`` and the canary card).

As Kinesis data (Avro envelopes: the KCL processor, the local runner on a stream, the PyFlink job):

- ``surrogate_bytes``: a bytes payload holding the JSON above, ``\\ud800`` escape and all;
- ``surrogate_avro``: a map payload whose ``notes`` is an encoded surrogate (ED A0 80): not UTF-8;
- ``not_utf8_bytes``: a bytes payload whose JSON has a raw 0xff inside ``notes``;
- ``not_utf8_avro``: a map payload whose ``notes`` has a raw 0xff;
- ``full_width``: the full-width note, as a map payload;
- ``largest``: a record whose masked output is exactly as large as a Kinesis record may be (1 MiB with its key);
- ``grows``: a record of 1 MiB whose masked output would not fit one (its emails become 64-character hashes).
"""
from __future__ import annotations

import json
import re
from typing import Callable

from pipelines.engine import MAX_OUTPUT_BYTES
from pipelines.pii.normalize import fold
from pipelines.records import Record, to_avro, to_json_line
from tests.pii_canaries import CANARIES, CANARY_NOTES, canary_payment, leaks

EVENT_TIME = 1_700_000_000_000
MIB = 1024 * 1024
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ISSUE_CARD = "4111111111111111"
"""The card of the issue's note, written there in full-width digits."""


def full_width(text: str) -> str:
    return text.translate(_FULL_WIDTH)


def _grouped(card: str) -> str:
    return " ".join(card[i:i + 4] for i in range(0, len(card), 4))


FULL_WIDTH_NOTE = (f"paid with {full_width(_grouped(ISSUE_CARD))}, then {full_width(_grouped(CANARIES['CREDIT_CARD']))}"
                   f" and {full_width(CANARIES['CREDIT_CARD'])}; SSN {full_width(CANARIES['US_SSN'])}")
_FILLER = "The parcel was left at the front desk as agreed. "


def envelope(id_: str, payload) -> dict:
    return {"id": id_, "type": "payment.created", "source": "bad-unicode", "event_time": EVENT_TIME,
            "partition_key": f"acct-{id_}", "schema": None, "payload": payload}


def payment(**fields) -> dict:
    return {**canary_payment(EVENT_TIME), **fields}


def note_of(size: int) -> str:
    """Exactly ``size`` ASCII characters: the canary notes at the start, in the middle and at the end."""
    third = (size - 3 * len(CANARY_NOTES) - 4) // 2
    filler = (_FILLER * (third // len(_FILLER) + 1))[:third]
    note = " ".join((CANARY_NOTES, filler, CANARY_NOTES, filler, CANARY_NOTES))  # apart: "asCardholder:" hides a name
    return note + "." * (size - len(note))


def good_line(n: int) -> bytes:
    return json.dumps(envelope(f"good-{n}", payment()), separators=(",", ":")).encode("utf-8")


def bad_lines() -> dict[str, bytes]:
    """The JSON lines, by name (see the module's doc)."""
    surrogate = json.dumps(envelope("surrogate", payment(notes=CANARY_NOTES + " \ud800 end")))  # ensure_ascii: the escape
    assert "\\ud800" in surrogate
    marker = "@@NOT-UTF8@@"
    not_utf8 = json.dumps(envelope("not-utf8", payment(notes=marker))).encode("utf-8").replace(
        marker.encode(), CANARY_NOTES.encode("utf-8") + b" \xff end")
    return {"surrogate": surrogate.encode("ascii"), "not_utf8": not_utf8,
            "big_note": json.dumps(envelope("big-note", payment(notes=note_of(MIB)))).encode("utf-8"),
            "full_width": json.dumps(envelope("full-width", payment(notes=FULL_WIDTH_NOTE)),
                                     ensure_ascii=False).encode("utf-8")}


def _record(id_: str, payload) -> Record:
    return Record(**envelope(id_, payload))


def _with_raw_notes(id_: str, raw: bytes) -> bytes:
    """An Avro envelope whose ``notes`` string holds ``raw`` as it is (a str could not be encoded so)."""
    marker = "N" * len(raw)
    data = to_avro(_record(id_, payment(notes=marker)))
    assert data.count(marker.encode()) == 1
    return data.replace(marker.encode(), raw)


def kinesis_size(record: Record) -> int:
    """What a record takes of Kinesis' 1 MiB: its Avro envelope and its partition key."""
    return len(to_avro(record)) + len(record.partition_key.encode("utf-8"))


def largest_record(mask: Callable[[Record], Record], id_: str = "largest") -> Record:
    """A record whose masked output is exactly the Kinesis limit, its input as large as that allows."""
    record = _record(id_, payment(notes=note_of(MIB - 2048)))
    growth = kinesis_size(mask(record)) - kinesis_size(record)
    note = note_of(MIB - 2048 + MAX_OUTPUT_BYTES - kinesis_size(record) - growth)
    record = _record(id_, payment(notes=note))
    assert kinesis_size(mask(record)) == MAX_OUTPUT_BYTES and kinesis_size(record) <= MAX_OUTPUT_BYTES
    return record


def growing_record(id_: str = "grows-1mib") -> Record:
    """A record of exactly 1 MiB on Kinesis that masking makes larger: its note ends in 2,000 short emails."""
    emails, size = "a@b.io " * 2_000, MIB - 2048
    for _ in range(3):  # later passes correct for the longer length prefix of a longer note
        record = _record(id_, payment(notes=note_of(size) + emails))
        size += MAX_OUTPUT_BYTES - kinesis_size(record)
    assert kinesis_size(record) == MAX_OUTPUT_BYTES, kinesis_size(record)
    return record


def kinesis_data(mask: Callable[[Record], Record]) -> dict[str, bytes]:
    """The Kinesis data, by name (see the module's doc); ``mask`` is the reference masking (for ``largest``)."""
    surrogate_json = json.dumps(payment(notes=CANARY_NOTES + " \ud800 end")).encode("ascii")
    marker = b"@@NOT-UTF8@@"
    not_utf8_json = json.dumps(payment(notes=marker.decode())).encode().replace(
        marker, CANARY_NOTES.encode() + b" \xff end")
    return {"surrogate_bytes": to_avro(_record("surrogate-bytes", surrogate_json)),
            "surrogate_avro": _with_raw_notes("surrogate-avro", "\ud800".encode("utf-8", "surrogatepass")),
            "not_utf8_bytes": to_avro(_record("not-utf8-bytes", not_utf8_json)),
            "not_utf8_avro": _with_raw_notes("not-utf8-avro", CANARY_NOTES.encode() + b" \xff end"),
            "full_width": to_avro(_record("full-width", payment(notes=FULL_WIDTH_NOTE))),
            "largest": to_avro(largest_record(mask)),
            "grows": to_avro(growing_record())}


def good_records(count: int = 3) -> list[Record]:
    return [_record(f"good-{n}", payment()) for n in range(count)]


def good_data(count: int = 3) -> list[bytes]:
    return [to_avro(r) for r in good_records(count)]


def full_width_leaks(blobs: dict[str, bytes | str]) -> list[str]:
    """``leaks`` (which reads every view folded to ASCII too), and the issue's own card in any grouping."""
    found = leaks(blobs)
    for where, blob in blobs.items():
        text = fold(blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob)
        if any(ISSUE_CARD in re.sub(r"\D", "", run) for run in _NUMBER.findall(text)):
            found.append(f"{where}: the issue's card")
    return found


_NUMBER = re.compile(r"\d[\d \-]*")


def json_line(record: Record) -> bytes:
    return to_json_line(record).encode("utf-8")
