"""KPL aggregation: a hand-built test vector, round trips, foreign encodings, corruption."""
import base64
import hashlib
import random

import pytest

from connectors.kinesis.aggregation import (MAGIC, MAX_RECORD_BYTES, AggregationError, RecordAggregator, UserRecord,
                                            aggregate, deaggregate, hash_key, is_aggregated)


def test_fixed_vector_built_by_hand():
    records = [UserRecord("a", b"hi"), UserRecord("b", b"", "7"), UserRecord("a", b"\x00")]
    body = bytes([
        0x0A, 0x01, ord("a"),               # field 1 (partition_key_table), len 1, "a"
        0x0A, 0x01, ord("b"),               # field 1 (partition_key_table), len 1, "b"
        0x12, 0x01, ord("7"),               # field 2 (explicit_hash_key_table), len 1, "7"
        0x1A, 0x06,                         # field 3 (records), len 6: record 0
        0x08, 0x00,                         #   partition_key_index = 0
        0x1A, 0x02, ord("h"), ord("i"),     #   data = "hi"
        0x1A, 0x06,                         # field 3 (records), len 6: record 1
        0x08, 0x01,                         #   partition_key_index = 1
        0x10, 0x00,                         #   explicit_hash_key_index = 0
        0x1A, 0x00,                         #   data = "" (present, empty)
        0x1A, 0x05,                         # field 3 (records), len 5: record 2
        0x08, 0x00,                         #   partition_key_index = 0
        0x1A, 0x01, 0x00,                   #   data = 00
    ])
    expected = b"\xF3\x89\x9A\xC2" + body + hashlib.md5(body).digest()
    assert aggregate(records) == expected
    assert deaggregate(expected, "outer") == records
    assert is_aggregated(expected)


def test_round_trip_many_records_unicode_keys_empty_data_and_hash_keys():
    rng = random.Random(7)
    keys = ["ключ", "键", "🔑-emoji", "plain", "k" * 256]
    records = [UserRecord(rng.choice(keys), rng.randbytes(rng.choice([0, 1, 127, 128, 300, 2000])),
                          rng.choice([None, "0", str(2**128 - 1), str(rng.getrandbits(127))]))
               for _ in range(400)]
    data = aggregate(records)
    assert deaggregate(data, "ignored", "1") == records


def test_aggregator_splits_by_size_and_never_exceeds_the_limit():
    aggregator = RecordAggregator(max_bytes=4096)
    sealed = []
    records = [UserRecord(f"key-{i % 13}", bytes([i % 256]) * (i % 500)) for i in range(300)]
    for record in records:
        full = aggregator.add(record)
        if full is not None:
            sealed.append(full)
            assert aggregator.size > 0  # the record that did not fit opened the next aggregate
    last = aggregator.flush()
    assert last is not None and aggregator.flush() is None
    sealed.append(last)
    out = []
    for agg in sealed:
        assert agg.size == len(agg.data) + len(agg.partition_key.encode()) <= 4096
        assert agg.partition_key == agg.entries[0][0]
        assert agg.explicit_hash_key == str(hash_key(agg.partition_key))  # lands on the first record's shard
        out.extend(deaggregate(agg.data, agg.partition_key))
    assert out == records


def test_size_accounting_matches_the_sealed_bytes():
    aggregator = RecordAggregator()
    for i in range(1000):
        aggregator.append(f"k{i % 300}", b"x" * (i % 200), str(i) if i % 7 == 0 else None)
        predicted = aggregator.size
        probe = RecordAggregator()
        for pk, data, ehk in aggregator._entries:
            probe.append(pk, data, ehk)
        assert probe.flush().size == predicted


def test_a_record_too_big_for_any_aggregate_is_refused_and_leaves_the_open_one_intact():
    aggregator = RecordAggregator(max_bytes=2048)
    aggregator.append("k", b"small")
    with pytest.raises(AggregationError):
        aggregator.append("k", b"x" * 2048)
    assert deaggregate(aggregator.flush().data, "k") == [UserRecord("k", b"small")]
    with pytest.raises(AggregationError):
        aggregate([UserRecord("k", b"x" * MAX_RECORD_BYTES)])


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _wrap(body: bytes) -> bytes:
    return MAGIC + body + hashlib.md5(body).digest()


def test_decodes_fields_in_any_order_and_skips_unknown_fields():
    record_0 = (_ld(3, b"payload")                      # data before the index
                + _varint(9 << 3 | 0) + _varint(300)    # unknown varint field 9
                + _varint(1 << 3 | 0) + _varint(1)      # partition_key_index = 1
                + _ld(4, _ld(1, b"tag") + _ld(2, b"v")))  # a Tag, which we skip
    record_1 = (_varint(2 << 3 | 0) + _varint(0)
                + _varint(1 << 3 | 0) + _varint(0)
                + _varint(11 << 3 | 5) + b"\x01\x02\x03\x04"          # unknown fixed32
                + _varint(12 << 3 | 1) + b"\x00" * 8                   # unknown fixed64
                + _varint(13 << 3 | 3) + _varint(1 << 3 | 0) + b"\x05" + _varint(13 << 3 | 4)  # a group
                + _ld(3, b""))
    body = (_ld(3, record_0)                   # records before the key tables
            + _ld(1, "zero".encode())
            + _ld(15, b"unknown length-delimited")
            + _ld(2, b"12345")
            + _ld(3, record_1)
            + _ld(1, "один".encode()))
    assert deaggregate(_wrap(body), "outer") == [UserRecord("один", b"payload"), UserRecord("zero", b"", "12345")]


def test_repeated_scalar_last_one_wins_like_protobuf():
    record = _varint(1 << 3) + _varint(0) + _ld(3, b"first") + _varint(1 << 3) + _varint(1) + _ld(3, b"second")
    body = _ld(1, b"a") + _ld(1, b"b") + _ld(3, record)
    assert deaggregate(_wrap(body), "x") == [UserRecord("b", b"second")]


def test_corrupted_md5_is_a_plain_record():
    data = bytearray(aggregate([UserRecord("k", b"v")]))
    data[-1] ^= 0xFF
    assert not is_aggregated(bytes(data))
    assert deaggregate(bytes(data), "outer", "5") == [UserRecord("outer", bytes(data), "5")]


@pytest.mark.parametrize("cut", [1, 5, 16, 17])
def test_truncated_data_is_a_plain_record(cut):
    data = aggregate([UserRecord("k", b"value"), UserRecord("j", b"other")])[:-cut]
    assert deaggregate(data, "outer") == [UserRecord("outer", data)]


@pytest.mark.parametrize("data", [b"", b"\xf3\x89", MAGIC, MAGIC + hashlib.md5(b"").digest(), b"plain json {}"])
def test_short_or_foreign_data_is_a_plain_record(data):
    assert deaggregate(data, "pk") == [UserRecord("pk", data)]


@pytest.mark.parametrize("body", [
    _ld(3, _ld(3, b"no index")),                            # required partition_key_index missing
    _ld(1, b"a") + _ld(3, _varint(1 << 3) + b"\x05" + _ld(3, b"")),   # index out of range
    _ld(1, b"a") + b"\x1a\x10\x08",                         # length past the end
    _ld(1, b"\xff\xfe"),                                    # a key that is not UTF-8
    _ld(1, b"a") + _varint(1 << 3 | 0) + b"\x01",           # field 1 with the wrong wire type
])
def test_md5_valid_but_malformed_body_is_an_error(body):
    with pytest.raises(AggregationError, match="malformed"):
        deaggregate(_wrap(body), "pk")


def _reference_modules():
    pytest.importorskip("google.protobuf")
    try:
        import aws_kinesis_agg.aggregator as aggregator
        import aws_kinesis_agg.deaggregator as deaggregator
    except ImportError:
        pytest.skip("aws-kinesis-agg (the reference implementation) is not installed")
    return aggregator, deaggregator


def test_matches_the_reference_implementation_byte_for_byte():
    reference, reference_deaggregator = _reference_modules()
    rng = random.Random(3)
    records = [UserRecord(rng.choice(["a", "bé", "c-key"]), rng.randbytes(rng.randrange(400)),
                          rng.choice([None, str(rng.getrandbits(128))])) for _ in range(300)]
    agg = reference.AggRecord()
    for r in records:
        assert agg.add_user_record(r.partition_key, r.data, r.explicit_hash_key)
    partition_key, _, expected = agg.get_contents()
    ours = aggregate(records)
    assert ours == expected
    assert partition_key == records[0].partition_key
    lambda_event_record = {"kinesis": {"data": base64.b64encode(ours), "partitionKey": "outer",
                                       "kinesisSchemaVersion": "1.0", "sequenceNumber": "1",
                                       "approximateArrivalTimestamp": 0.0}}
    decoded = reference_deaggregator.deaggregate_records([lambda_event_record])
    # Keys and data only: the reference reads an absent explicit_hash_key_index as 0 (proto2 default),
    # so it attaches the first table entry to records that have none.
    assert [(d["kinesis"]["partitionKey"], base64.b64decode(d["kinesis"]["data"]))
            for d in decoded] == [(r.partition_key, r.data) for r in records]
