import enum
import io

import fastavro
import pytest

from pipelines.records import (PARSED_SCHEMA, Record, RecordValidationError, from_avro, from_json_line, read_avro_file,
                               to_avro, to_json_line, validate, write_avro_file, write_encoded_avro_file)


def sample(**overrides):
    data = {"id": "r-1", "type": "payment.created", "source": "test", "event_time": 1_700_000_000_000,
            "partition_key": "acct-1", "payload": {"amount": 12.5, "currency": "EUR", "count": 3, "ok": True,
                                                   "note": None, "blob": b"\x00\xff"}}
    data.update(overrides)
    return data


def test_avro_and_json_round_trip_keep_every_field():
    record = validate(sample())
    assert from_avro(to_avro(record)) == record
    assert from_json_line(to_json_line(record)) == record
    raw = validate(sample(payload=b"\x01\x02binary"))
    assert from_avro(to_avro(raw)) == raw
    assert from_json_line(to_json_line(raw)) == raw


def test_avro_container_file_round_trip():
    records = [validate(sample(id=f"r-{i}")) for i in range(5)]
    buffer = io.BytesIO()
    write_avro_file(buffer, records)
    buffer.seek(0)
    assert list(read_avro_file(buffer)) == records


class Colour(str, enum.Enum):
    RED = "red"


def test_naming_the_union_branch_writes_the_bytes_fastavro_would_choose():
    payloads = [{"none": None, "yes": True, "low": -2**63, "high": 2**63 - 1, "half": 0.5, "nan": float("nan"),
                 "text": "x", "raw": b"\x00", "enum": Colour.RED, "zero": 0}, {}, b"opaque bytes"]
    for payload in payloads:
        record = Record(type="t", source="s", partition_key="k", payload=payload, id="r")
        plain = io.BytesIO()
        fastavro.schemaless_writer(plain, PARSED_SCHEMA, record.as_dict())
        assert to_avro(record) == plain.getvalue()


@pytest.mark.parametrize("count, block_records", [(0, 1000), (1, 1000), (7, 3), (2500, 1000)])
def test_a_container_of_encoded_envelopes_reads_back_as_the_records(count, block_records):
    records = [validate(sample(id=f"r-{i}", payload={"n": i, "s": "x" * (i % 50)})) for i in range(count)]
    buffer = io.BytesIO()
    write_encoded_avro_file(buffer, [to_avro(r) for r in records], block_records=block_records)
    buffer.seek(0)
    assert list(read_avro_file(buffer)) == records


@pytest.mark.parametrize("overrides, field, reason", [
    ({"type": ""}, "type", "non-empty string"),
    ({"source": 5}, "source", "non-empty string"),
    ({"partition_key": None}, "partition_key", "required"),
    ({"partition_key": "k" * 257}, "partition_key", "longer than 256"),
    ({"event_time": "yesterday"}, "event_time", "non-negative integer"),
    ({"event_time": -1}, "event_time", "non-negative integer"),
    ({"schema": 3}, "schema", "string or null"),
    ({"payload": [1, 2]}, "payload", "bytes or an object"),
    ({"payload": {"nested": {"a": 1}}}, "payload.nested", "nested dict"),
    ({"payload": {"big": 2**70}}, "payload.big", "64 bits"),
    ({"payload": {"b": {"$base64": "***"}}}, "payload.b", "not valid base64"),
    ({"id": None}, "id", "required"),
    ({"id": ""}, "id", "non-empty string"),
    ({"payload": {7: "seven"}}, "payload", "keys must be strings"),
    ({"payload": {"when": object()}}, "payload.when", "nested object"),
])
def test_validation_error_names_field_and_reason(overrides, field, reason):
    with pytest.raises(RecordValidationError) as caught:
        validate(sample(**overrides), line=7)
    assert caught.value.field == field
    assert reason in str(caught.value)
    assert str(caught.value).startswith("line 7: ")


def test_a_missing_id_is_made_up_and_scalars_pass_as_they_are():
    data = sample()
    del data["id"]
    first, second = validate(data), validate(data)
    assert first.id and second.id and first.id != second.id
    payload = {"s": "x", "f": 1.5, "t": True, "n": None, "b": b"\x00", "i": -2**63, "big": 2**63 - 1}
    assert validate(sample(payload=payload)).payload == payload


def test_malformed_json_names_line_not_content():
    secret = '{"ssn": "123-45-6789", '
    with pytest.raises(RecordValidationError) as caught:
        from_json_line(secret, line_number=42)
    assert "line 42" in str(caught.value)
    assert "123-45-6789" not in str(caught.value)


def test_undecodable_avro_is_a_validation_error():
    with pytest.raises(RecordValidationError, match="not a shardline Avro envelope"):
        from_avro(b"\xff\xff\xff")


def test_new_record_takes_time_from_the_clock():
    from pipelines.clock import FakeClock

    record = Record.new("t", "s", "k", {"a": 1}, clock=FakeClock(start=12.5))
    assert record.event_time == 12_500
