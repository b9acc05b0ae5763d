"""The record envelope every shardline stream carries.

Avro (fastavro, schemaless binary) is the wire format; JSON lines are accepted
and produced at the edges (files, stdin/stdout, the CLI).  A payload is either
opaque bytes or a flat map of scalars.  In JSON, bytes are written as
``{"$base64": "..."}`` so a round trip is lossless.

>>> record = validate({"id": "r1", "type": "payment", "source": "pos", "event_time": 1767225600000,
...                    "partition_key": "card-42", "payload": {"amount": 12.5, "raw": b"\\x00\\x01"}})
>>> to_json_line(record)
'{"id":"r1","type":"payment","source":"pos","event_time":1767225600000,"partition_key":"card-42","schema":null,"payload":{"amount":12.5,"raw":{"$base64":"AAE="}}}'
>>> from_avro(to_avro(record)) == from_json_line(to_json_line(record)) == record
True
>>> validate({"id": "r2", "type": "payment"})
Traceback (most recent call last):
...
pipelines.records.RecordValidationError: field 'source': is required
"""
from __future__ import annotations

import base64
import io
import json
import re
import uuid
from collections.abc import Mapping  # isinstance() against typing's alias costs several times more
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Sequence, Union

import fastavro
import orjson
import fastavro.write

from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.errors import FieldError

Scalar = Union[None, bool, int, float, str, bytes]
Payload = Union[bytes, dict[str, Scalar]]

ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "Envelope",
    "namespace": "shardline",
    "doc": "One record on a shardline stream.",
    "fields": [
        {"name": "id", "type": "string", "doc": "Unique id (UUID4 unless the producer sets one)."},
        {"name": "type", "type": "string", "doc": "What happened, e.g. payment.created."},
        {"name": "source", "type": "string", "doc": "Who produced it."},
        {"name": "event_time", "type": "long", "doc": "When it happened, epoch milliseconds."},
        {"name": "partition_key", "type": "string", "doc": "Kinesis partition key; order holds per key."},
        {"name": "schema", "type": ["null", "string"], "default": None,
         "doc": "Name of the payload's schema, if any."},
        {"name": "payload", "type": [
            "bytes",
            {"type": "map", "values": ["null", "boolean", "long", "double", "string", "bytes"]},
        ]},
    ],
}
PARSED_SCHEMA = fastavro.parse_schema(ENVELOPE_SCHEMA)
_REQUIRED_STRINGS = ("id", "type", "source", "partition_key")
# Payload values of these exact types are valid as they are (ints are range-checked, the rest looked at).
_PLAIN_SCALARS = frozenset({str, float, bool, bytes, type(None)})
_MAX_PARTITION_KEY = 256  # Kinesis limit, in Unicode characters


class RecordValidationError(FieldError):
    """A record does not fit the envelope.  Names the field and the reason, never the value."""

    def __init__(self, field_name: str, reason: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(field_name, reason)

    def describe(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}field '{self.field}': {self.reason}"


@dataclass(frozen=True, slots=True)
class Record:
    type: str
    source: str
    partition_key: str
    payload: Payload
    event_time: int = 0
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    schema: str | None = None

    @classmethod
    def new(cls, type: str, source: str, partition_key: str, payload: Payload,
            clock: Clock = SYSTEM_CLOCK, schema: str | None = None) -> "Record":
        return cls(type=type, source=source, partition_key=partition_key, payload=payload,
                   event_time=int(clock.time() * 1000), schema=schema)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "source": self.source,
                "event_time": self.event_time, "partition_key": self.partition_key,
                "schema": self.schema, "payload": self.payload}


def validate(data: Mapping[str, Any], line: int | None = None) -> Record:
    """Build a ``Record`` from a mapping, raising ``RecordValidationError`` on the first problem."""
    if not isinstance(data, Mapping):
        raise RecordValidationError("<record>", f"expected an object, got {type(data).__name__}", line)
    for name in _REQUIRED_STRINGS:
        value = data.get(name)
        if value is None:
            if name == "id" and "id" not in data:
                continue  # a missing id is made up below; an explicit null is not accepted
            raise RecordValidationError(name, "is required", line)
        if not isinstance(value, str) or not value:
            raise RecordValidationError(name, "must be a non-empty string", line)
    key = data["partition_key"]
    if len(key) > _MAX_PARTITION_KEY:
        raise RecordValidationError("partition_key", f"longer than {_MAX_PARTITION_KEY} characters", line)
    event_time = data.get("event_time")
    if event_time is None:
        raise RecordValidationError("event_time", "is required (epoch milliseconds)", line)
    if isinstance(event_time, bool) or not isinstance(event_time, int) or event_time < 0:
        raise RecordValidationError("event_time", "must be a non-negative integer (epoch milliseconds)", line)
    schema = data.get("schema")
    if schema is not None and not isinstance(schema, str):
        raise RecordValidationError("schema", "must be a string or null", line)
    payload = _validate_payload(data.get("payload"), line)
    return Record(id=data.get("id") or str(uuid.uuid4()), type=data["type"], source=data["source"],
                  partition_key=key, payload=payload, event_time=event_time, schema=schema)


def _validate_payload(payload: Any, line: int | None) -> Payload:
    if isinstance(payload, (bytes, bytearray)):
        return bytes(payload)
    if not isinstance(payload, Mapping):
        raise RecordValidationError("payload", "must be bytes or an object", line)
    out: dict[str, Scalar] = {}
    for key, value in payload.items():
        if not isinstance(key, str):
            raise RecordValidationError("payload", "keys must be strings", line)
        if type(value) in _PLAIN_SCALARS:  # most values: nothing more to check
            out[key] = value
            continue
        if isinstance(value, Mapping) and set(value) == {"$base64"}:
            value = _decode_base64(value["$base64"], f"payload.{key}", line)
        elif value is not None and not isinstance(value, (bool, int, float, str, bytes)):
            raise RecordValidationError(
                f"payload.{key}", f"nested {type(value).__name__} values are not supported; "
                "send the payload as bytes to carry nested data", line)
        elif isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value < 2**63:
            raise RecordValidationError(f"payload.{key}", "integer does not fit in 64 bits", line)
        out[key] = value
    return out


def _decode_base64(text: Any, field_name: str, line: int | None) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise RecordValidationError(field_name, "'$base64' is not valid base64", line) from None


# --- Avro: the wire format -------------------------------------------------

# fastavro's tuple notation, (branch name, value), names each payload value's branch of the union, and
# the payload's own branch ("map"), so the writer does not try the branches in turn: to_avro of a map
# payload takes half the time, and a third less again with the payload's branch named (14 -> 10 us).
_BRANCH = {type(None): "null", bool: "boolean", int: "long", float: "double", str: "string", bytes: "bytes"}


def to_avro(record: Record) -> bytes:
    data = record.as_dict()
    payload = record.payload
    if type(payload) is dict:
        branch_of = _BRANCH.get
        data["payload"] = ("map", {key: (branch, value) if (branch := branch_of(type(value))) else value
                                   for key, value in payload.items()})
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, PARSED_SCHEMA, data)
    return buffer.getvalue()


def from_avro(data: bytes) -> Record:
    try:
        raw = fastavro.schemaless_reader(io.BytesIO(data), PARSED_SCHEMA)
    except (EOFError, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise RecordValidationError("<record>", f"not a shardline Avro envelope ({type(exc).__name__})") from None
    return Record(**raw)


def write_avro_file(fo, records, codec: str = "deflate") -> None:
    """Write an Avro container file (schema in the header) of records."""
    fastavro.writer(fo, PARSED_SCHEMA, (r.as_dict() for r in records), codec=codec)


class _EncodedBlock(NamedTuple):
    """What fastavro's ``Writer.write_block`` reads of a block: how many datums, and their bytes."""

    num_records: int
    bytes_: io.BytesIO


def write_encoded_avro_file(fo, datums: Sequence[bytes], codec: str = "deflate", block_records: int = 1000) -> None:
    """Write an Avro container file of envelopes already encoded by ``to_avro``, without decoding them.

    A container block is its datums' bytes one after another, so blocks are
    built by joining them; decoding each to write it again cost ten times more.
    """
    writer = fastavro.write.Writer(fo, PARSED_SCHEMA, codec=codec)
    for start in range(0, len(datums), block_records):
        chunk = datums[start:start + block_records]
        writer.write_block(_EncodedBlock(len(chunk), io.BytesIO(b"".join(chunk))))
    writer.flush()


class AvroFileWriter:
    """Writes records to an Avro container file as they come: one block per ``flush``.

    Memory stays flat however long the run, and a flushed block is on disk, so a
    checkpoint taken after ``flush`` never covers records held only in memory.
    """

    def __init__(self, fo, codec: str = "deflate") -> None:
        self._fo = fo
        self._writer = fastavro.write.Writer(fo, PARSED_SCHEMA, codec=codec)  # writes the header now

    def write(self, record: Record) -> None:
        self._writer.write(record.as_dict())

    def flush(self) -> None:
        self._writer.flush()
        self._fo.flush()


def read_avro_file(fo):
    # No reader_schema: Avro resolution would promote string<->bytes inside the payload union.
    for raw in fastavro.reader(fo):
        yield Record(**raw)


# --- JSON lines: the edges --------------------------------------------------

_INFINITY = float("inf")
_LONG_RANGE = float(2**63)


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"$base64": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def to_json_line(record: Record) -> str:
    return json.dumps(record.as_dict(), default=_json_default, separators=(",", ":"), ensure_ascii=False)


def payload_to_json(payload: Payload) -> str:
    """A payload as the JSON text the edges (and the SQL envelope format) carry: bytes as ``{"$base64": ...}``.

    orjson writes the text ``json.dumps`` writes, ten times faster (0.6 against 5.9 us a payments record: the
    PII job's Python step writes one a record).  Where they would differ it is not used: a float that is not
    finite (``json`` writes NaN, orjson null) or under 1e-4 (``1e-05`` against ``0.00001``: 0 of 300,000
    random doubles differed elsewhere), and what orjson refuses (an integer past 64 bits, a key that is no
    string, a lone surrogate).
    """
    if isinstance(payload, dict) and _orjson_writes_as_json(payload):
        try:
            return orjson.dumps(payload, default=_json_default).decode("utf-8")
        except TypeError:  # orjson.JSONEncodeError
            pass
    return json.dumps(payload, default=_json_default, separators=(",", ":"), ensure_ascii=False) \
        if isinstance(payload, dict) else json.dumps(_json_default(payload), separators=(",", ":"))


def _plain_values(data: dict) -> bool:
    """Whether every value is one a payload holds as it is: text, a boolean, null, a 64-bit integer, or a
    float that cannot have been an integer past 64 bits."""
    for value in data.values():
        kind = type(value)
        if kind is str or kind is bool or value is None:
            continue
        if kind is int:
            if not -_LONG_RANGE <= value < _LONG_RANGE:
                return False
        elif kind is not float or not -_LONG_RANGE < value < _LONG_RANGE:
            return False
    return True


def _orjson_writes_as_json(payload: dict) -> bool:
    for value in payload.values():
        if type(value) is float and not orjson_writes_float_as_json(value):
            return False
    return True


def orjson_writes_float_as_json(value: float) -> bool:
    """Whether orjson writes ``value`` as ``json.dumps`` does: not where it is not finite (``json`` writes NaN,
    orjson null) or under 1e-4 (``1e-05`` against ``0.00001``)."""
    return value == 0.0 or 1e-4 <= abs(value) < _INFINITY


def loads_as_json(text: str) -> Any:
    """``json.loads(text)``: read by orjson when it holds a flat object of plain values (``_plain_values``),
    where the two read the same (0.2 against 2.2 us an event's ``data``), else by ``json``, which also raises
    the ``ValueError`` for text that is no JSON."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        data = None
    if type(data) is dict and _plain_values(data):
        return data
    return json.loads(text)


def payload_from_json(text: str | bytes) -> Payload:
    """The payload that JSON text (or its UTF-8) holds (``payload_to_json``'s inverse); ``RecordValidationError``
    if none.

    orjson reads it three times faster (1.2 against 3.6 us a payments record).  What it refuses (NaN, a lone
    surrogate) ``json`` reads, with the reasons below; so does a value orjson read as a float past 2**63,
    which may have been an integer (orjson makes one past 64 bits a float, ``json`` keeps it, to be refused).
    """
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        if "$base64" not in data and _plain_values(data):
            return data  # the common payload: nothing to decode or refuse, and the dict is new
        if not any(type(value) is float and not -_LONG_RANGE < value < _LONG_RANGE for value in data.values()):
            if set(data) == {"$base64"}:
                return _decode_base64(data["$base64"], "payload", None)
            return _validate_payload(data, None)
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        raise RecordValidationError("payload", "is not JSON") from None
    if may_hold_lone_surrogates(text):  # see parse_json_line
        where = lone_surrogate_path(data, "payload")
        if where is not None:
            raise RecordValidationError(where, LONE_SURROGATE)
    if isinstance(data, dict) and set(data) == {"$base64"}:
        return _decode_base64(data["$base64"], "payload", None)
    return _validate_payload(data, None)


def parse_json_line(line: str | bytes, line_number: int | None = None) -> Any:
    """The JSON value of one line; errors carry the line number but never the line's content."""
    try:
        data = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        reason = f"malformed JSON at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) \
            else "not valid UTF-8"
        raise RecordValidationError("<record>", reason, line_number) from None
    _refuse_lone_surrogates(line, data, line_number)
    return data


# json.loads turns an unpaired "\ud800".."\udfff" escape into a lone surrogate: a str that no UTF-8 writer
# (Avro, JSON lines, a log line) can encode, so a record holding one stopped a file run at its first write
# and could never reach a stream.  Only such an escape makes one (decoded UTF-8 never holds one), so text
# without one is not walked.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
LONE_SURROGATE = ("holds a lone surrogate (an unpaired \\ud800-\\udfff escape), which is not Unicode text "
                  "and cannot be written as UTF-8")
"""The reason every engine gives for such a value (it names the field, never the value)."""


def may_hold_lone_surrogates(text: str | bytes) -> bool:
    """False when JSON ``text`` cannot decode to a lone surrogate (it has no surrogate escape): most text."""
    pattern = _SURROGATE_ESCAPE_BYTES if isinstance(text, (bytes, bytearray)) else _SURROGATE_ESCAPE
    return pattern.search(text) is not None


def lone_surrogate_path(value: Any, path: str = "") -> str | None:
    """The dotted path of the first key or string in a decoded JSON value holding a lone surrogate (a key
    is named ``<key>``, never quoted), or None."""
    if isinstance(value, str):
        return (path or "<record>") if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if _SURROGATE.search(key):
                return f"{path}.<key>" if path else "<key>"
            found = lone_surrogate_path(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = lone_surrogate_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _refuse_lone_surrogates(text: str | bytes, data: Any, line_number: int | None) -> None:
    if may_hold_lone_surrogates(text):
        where = lone_surrogate_path(data)
        if where is not None:
            raise RecordValidationError(where, LONE_SURROGATE, line_number)


def from_json_line(line: str | bytes, line_number: int | None = None) -> Record:
    """Parse one JSON line holding an envelope."""
    return envelope_from_json(parse_json_line(line, line_number), line_number)


def envelope_from_json(data: Any, line_number: int | None = None) -> Record:
    """A record from an envelope's JSON object (bytes as ``{"$base64": ...}``)."""
    if isinstance(data, dict) and isinstance(data.get("payload"), dict) and set(data["payload"]) == {"$base64"}:
        data["payload"] = _decode_base64(data["payload"]["$base64"], "payload", line_number)
    return validate(data, line_number)
