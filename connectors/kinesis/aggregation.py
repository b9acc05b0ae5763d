"""KPL aggregation: many user records packed into one Kinesis record.

The wire format (amazon-kinesis-producer ``aggregation-format.md``)::

    F3 89 9A C2                      magic
    AggregatedRecord (protobuf 2)    partition_key_table = 1, explicit_hash_key_table = 2, records = 3
    MD5(AggregatedRecord bytes)      16 bytes

    message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
                     required bytes data = 3; repeated Tag tags = 4; }

Why hand-written protobuf: the producer aggregates 100k+ records/s per core, and
building one protobuf message object per user record (the runtime's Python
objects and ``SerializeToString``) costs several microseconds each, more than
the rest of the producer's per-record work together.  Encoding writes the
canonical field order (1, 2, 3), so its bytes equal the protobuf runtime's (a
test checks this against ``aws-kinesis-agg``, the reference implementation).
Decoding accepts any valid encoding: fields in any order, unknown fields
skipped, repeated scalars last-wins, as protobuf parsers do.

Like the KCL, data that does not start with the magic bytes or whose MD5 does
not match is a plain (not aggregated) record.  Data whose MD5 matches but whose
protobuf is malformed raises ``AggregationError``: an MD5 match on data that
was not written as an aggregate is a 2**-128 event, so it means a broken
producer, and the caller should dead-letter the Kinesis record.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Sequence

MAGIC = b"\xf3\x89\x9a\xc2"
DIGEST_SIZE = 16
MAX_RECORD_BYTES = 1024 * 1024
"""Kinesis' limit on one record: data plus partition key (UTF-8), 1 MiB."""
MAX_PARTITION_KEY_CHARS = 256
MAX_HASH_KEY = 2**128 - 1
_OVERHEAD = len(MAGIC) + DIGEST_SIZE

_md5 = hashlib.md5


class AggregationError(ValueError):
    """An aggregate could not be built or an MD5-valid aggregate could not be decoded."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    partition_key: str
    data: bytes
    explicit_hash_key: str | None = None


def hash_key(partition_key: str) -> int:
    """The 128-bit hash key Kinesis derives from a partition key: MD5, big-endian."""
    return int.from_bytes(_md5(partition_key.encode("utf-8")).digest(), "big")


def effective_hash_key(partition_key: str, explicit_hash_key: str | None) -> int:
    """Where a record lands: its explicit hash key if it has one, else the MD5 of its key."""
    if explicit_hash_key is not None:
        return int(explicit_hash_key)
    return hash_key(partition_key)


def is_aggregated(data: bytes) -> bool:
    """True if ``data`` carries the magic bytes and a matching MD5 trailer."""
    if len(data) <= _OVERHEAD or data[:4] != MAGIC:
        return False
    return _md5(memoryview(data)[4:-DIGEST_SIZE]).digest() == data[-DIGEST_SIZE:]


# --- encoding -----------------------------------------------------------------------------------

def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# Every one- and two-byte varint, precomputed: lengths, indexes and sizes inside an aggregate are
# almost always below 2**14, and a table lookup is several times cheaper than encoding.
_VARINTS = [_encode_varint(i) for i in range(1 << 14)]
_VARINT_TABLE_SIZE = len(_VARINTS)


def _varint(value: int) -> bytes:
    if value < _VARINT_TABLE_SIZE:
        return _VARINTS[value]
    return _encode_varint(value)


class AggregatedRecord:
    """One sealed aggregate: what goes into a single PutRecords entry.

    ``entries`` are the packed user records as ``(partition_key, data,
    explicit_hash_key)`` tuples, in order (the producer reports them if the
    aggregate exhausts its retries).  The partition key is the first user
    record's; the explicit hash key is the first user record's effective hash
    key, so the aggregate lands on that record's shard.
    """

    __slots__ = ("partition_key", "explicit_hash_key", "data", "entries")

    def __init__(self, partition_key: str, explicit_hash_key: str, data: bytes,
                 entries: list[tuple[str, bytes, str | None]]) -> None:
        self.partition_key = partition_key
        self.explicit_hash_key = explicit_hash_key
        self.data = data
        self.entries = entries

    @property
    def size(self) -> int:
        """Bytes Kinesis counts against its limits: data plus partition key."""
        return len(self.data) + len(self.partition_key.encode("utf-8"))

    def user_records(self) -> list[UserRecord]:
        return [UserRecord(pk, data, ehk) for pk, data, ehk in self.entries]

    def __len__(self) -> int:
        return len(self.entries)


class RecordAggregator:
    """Packs user records into aggregates of at most ``max_bytes`` (data + partition key).

    ``append``/``add`` return the sealed aggregate when the new record does not
    fit; the new record then starts the next one.  ``flush`` seals what is left.
    """

    def __init__(self, max_bytes: int = MAX_RECORD_BYTES) -> None:
        if not 64 <= max_bytes <= MAX_RECORD_BYTES:
            raise AggregationError(f"max_bytes must be between 64 and {MAX_RECORD_BYTES}, got {max_bytes}")
        self.max_bytes = max_bytes
        self._reset()

    def _reset(self) -> None:
        self._pk_index: dict[str, int] = {}
        self._pk_parts: list[bytes] = []
        self._ehk_index: dict[str, int] = {}
        self._ehk_parts: list[bytes] = []
        self._record_parts: list[bytes] = []
        self._entries: list[tuple[str, bytes, str | None]] = []
        self._size = 0  # the sealed Kinesis record's size: overhead + body + outer partition key
        self._first_ehk = ""

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """Size of the aggregate if sealed now (data + partition key), 0 when empty."""
        return self._size

    def add(self, record: UserRecord) -> AggregatedRecord | None:
        return self.append(record.partition_key, record.data, record.explicit_hash_key)

    def append(self, partition_key: str, data: bytes,
               explicit_hash_key: str | None = None) -> AggregatedRecord | None:
        """Add one user record; return the previous aggregate if this one did not fit in it."""
        # The hot path of the aggregating producer: table lookups and one bytes %-format per record.
        varints = _VARINTS
        pk_index = self._pk_index.get(partition_key)
        pk_part = None
        if pk_index is None:
            pk_bytes = partition_key.encode("utf-8")
            pk_index = len(self._pk_index)
            pk_part = b"\x0a" + _varint(len(pk_bytes)) + pk_bytes
        n = len(data)
        if explicit_hash_key is None:
            ehk_part = None
            head = b"\x08%b\x1a%b" % (varints[pk_index] if pk_index < _VARINT_TABLE_SIZE else _varint(pk_index),
                                      varints[n] if n < _VARINT_TABLE_SIZE else _varint(n))
        else:
            ehk_part, ehk_index = None, self._ehk_index.get(explicit_hash_key)
            if ehk_index is None:
                ehk_index = len(self._ehk_index)
                ehk_bytes = explicit_hash_key.encode("ascii")
                ehk_part = b"\x12" + _varint(len(ehk_bytes)) + ehk_bytes
            head = b"\x08%b\x10%b\x1a%b" % (_varint(pk_index), _varint(ehk_index), _varint(n))
        inner = len(head) + n
        record_head = b"\x1a%b%b" % (varints[inner] if inner < _VARINT_TABLE_SIZE else _varint(inner), head)
        added = len(record_head) + n
        if pk_part is not None:
            added += len(pk_part)
        if ehk_part is not None:
            added += len(ehk_part)

        entries = self._entries
        if entries:
            size = self._size + added
            if size > self.max_bytes:
                self._check_fits_alone(partition_key, data, explicit_hash_key)
                sealed = self.flush()
                self.append(partition_key, data, explicit_hash_key)
                return sealed
        else:
            pk_bytes = partition_key.encode("utf-8")
            size = _OVERHEAD + added + len(pk_bytes)
            if size > self.max_bytes:
                raise AggregationError(
                    f"a user record of {n} data bytes does not fit in an aggregate of at most "
                    f"{self.max_bytes} bytes")
            self._first_ehk = explicit_hash_key if explicit_hash_key is not None else \
                str(int.from_bytes(_md5(pk_bytes).digest(), "big"))
        if pk_part is not None:
            self._pk_index[partition_key] = pk_index
            self._pk_parts.append(pk_part)
        if ehk_part is not None:
            self._ehk_index[explicit_hash_key] = ehk_index
            self._ehk_parts.append(ehk_part)
        self._record_parts.append(record_head)
        self._record_parts.append(data)
        entries.append((partition_key, data, explicit_hash_key))
        self._size = size
        return None

    def _check_fits_alone(self, partition_key: str, data: bytes, explicit_hash_key: str | None) -> None:
        # Raise before sealing, so a too-large record leaves the open aggregate intact.
        probe = RecordAggregator(self.max_bytes)
        probe.append(partition_key, data, explicit_hash_key)

    def flush(self) -> AggregatedRecord | None:
        """Seal and return the open aggregate (None if empty); the aggregator starts empty."""
        entries = self._entries
        if not entries:
            return None
        body = b"".join(self._pk_parts + self._ehk_parts + self._record_parts)
        data = MAGIC + body + _md5(body).digest()
        sealed = AggregatedRecord(entries[0][0], self._first_ehk, data, entries)
        self._reset()
        return sealed


def aggregate(records: Sequence[UserRecord]) -> bytes:
    """Pack ``records`` into one aggregated record's data; AggregationError if over 1 MiB."""
    if not records:
        raise AggregationError("cannot aggregate zero records")
    aggregator = RecordAggregator()
    for record in records:
        if aggregator.add(record) is not None:
            raise AggregationError(f"{len(records)} records do not fit in one {MAX_RECORD_BYTES}-byte Kinesis record")
    sealed = aggregator.flush()
    assert sealed is not None
    return sealed.data


# --- decoding -----------------------------------------------------------------------------------

class _Malformed(Exception):
    pass


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    byte = buf[pos]
    pos += 1
    if byte < 0x80:
        return byte, pos
    result = byte & 0x7F
    shift = 7
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise _Malformed("varint longer than 10 bytes")


def _skip(buf: bytes, pos: int, wire_type: int, field_number: int) -> int:
    """Skip one field's value; return the position after it."""
    if wire_type == 0:
        return _read_varint(buf, pos)[1]
    if wire_type == 1:
        return pos + 8
    if wire_type == 2:
        length, pos = _read_varint(buf, pos)
        return pos + length
    if wire_type == 5:
        return pos + 4
    if wire_type == 3:  # a (deprecated) group: skip fields until its end tag
        while True:
            tag, pos = _read_varint(buf, pos)
            if tag & 7 == 4:
                if tag >> 3 != field_number:
                    raise _Malformed("mismatched end-group tag")
                return pos
            pos = _skip(buf, pos, tag & 7, tag >> 3)
    raise _Malformed(f"invalid wire type {wire_type}")


def _fields(buf: bytes, start: int, end: int) -> Iterable[tuple[int, int, int | tuple[int, int]]]:
    """Yield (field number, wire type, value) where value is a varint or a (start, end) slice."""
    pos = start
    while pos < end:
        tag, pos = _read_varint(buf, pos)
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            raise _Malformed("field number 0")
        if wire_type == 0:
            value, pos = _read_varint(buf, pos)
            yield number, wire_type, value
        elif wire_type == 2:
            length, pos = _read_varint(buf, pos)
            if pos + length > end:
                raise _Malformed("length past the end of the message")
            yield number, wire_type, (pos, pos + length)
            pos += length
        else:
            pos = _skip(buf, pos, wire_type, number)
            yield number, wire_type, 0
    if pos != end:
        raise _Malformed("field runs past the end of the message")


def _decode(buf: bytes, start: int, end: int) -> list[UserRecord]:
    pk_table: list[str] = []
    ehk_table: list[str] = []
    spans: list[tuple[int, int]] = []
    for number, wire_type, value in _fields(buf, start, end):
        if number in (1, 2, 3) and wire_type != 2:
            raise _Malformed(f"field {number} has wire type {wire_type}")
        if number == 1:
            pk_table.append(buf[value[0]:value[1]].decode("utf-8"))
        elif number == 2:
            ehk_table.append(buf[value[0]:value[1]].decode("utf-8"))
        elif number == 3:
            spans.append(value)
    records = []
    for span_start, span_end in spans:
        pk_index = ehk_index = data = None
        for number, wire_type, value in _fields(buf, span_start, span_end):
            if number == 1 and wire_type == 0:
                pk_index = value
            elif number == 2 and wire_type == 0:
                ehk_index = value
            elif number == 3 and wire_type == 2:
                data = buf[value[0]:value[1]]
            elif number in (1, 2, 3):
                raise _Malformed(f"record field {number} has wire type {wire_type}")
        if pk_index is None or data is None:
            raise _Malformed("record lacks a required field")
        if pk_index >= len(pk_table) or (ehk_index is not None and ehk_index >= len(ehk_table)):
            raise _Malformed("key table index out of range")
        records.append(UserRecord(pk_table[pk_index], data,
                                  None if ehk_index is None else ehk_table[ehk_index]))
    return records


def deaggregate(data: bytes, partition_key: str, explicit_hash_key: str | None = None) -> list[UserRecord]:
    """The user records inside one Kinesis record; a plain record comes back as a list of one."""
    if not is_aggregated(data):
        return [UserRecord(partition_key, data, explicit_hash_key)]
    data = bytes(data)
    try:
        return _decode(data, len(MAGIC), len(data) - DIGEST_SIZE)
    except (_Malformed, IndexError, UnicodeDecodeError) as exc:
        raise AggregationError(f"aggregated record with a valid MD5 has a malformed body: {exc}") from None
