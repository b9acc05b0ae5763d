"""The payload's JSON text, the SQL path's crossing to Python: orjson where it writes and reads what ``json``
does, ``json`` where it would not."""
from __future__ import annotations

import base64
import json
import math
import random
import struct

import pytest

from pipelines.records import RecordValidationError, loads_as_json, payload_from_json, payload_to_json


def reference(payload: dict) -> str:
    return json.dumps(payload, default=lambda v: {"$base64": base64.b64encode(v).decode("ascii")},
                      separators=(",", ":"), ensure_ascii=False)


def test_the_text_is_json_s_for_any_double_and_any_64_bit_integer():
    rng = random.Random(7)
    for _ in range(20_000):
        value = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
        payload = {"x": value, "n": rng.getrandbits(64) - 2**63, "s": "é\u2028\"\\", "b": True, "z": None}
        assert payload_to_json(payload) == reference(payload), payload


@pytest.mark.parametrize("payload", [
    {"small": 1e-05}, {"nan": math.nan}, {"inf": -math.inf}, {"past_64_bits": 2**70}, {1: "a key that is no text"},
    {"bytes": b"\x00\xff"}, {"zero": -0.0}, {}, {"lone": "\ud800"},
], ids=repr)
def test_where_orjson_would_differ_or_refuse_the_text_is_still_json_s(payload):
    assert payload_to_json(payload) == reference(payload)


def test_reading_gives_json_s_values_and_the_same_refusals():
    assert payload_from_json('{"a":1,"b":"c","d":null,"e":true,"f":1.5,"g":-9223372036854775808}') == {
        "a": 1, "b": "c", "d": None, "e": True, "f": 1.5, "g": -2**63}
    assert payload_from_json('{"$base64":"AAE="}') == b"\x00\x01"
    assert payload_from_json('{"a":{"$base64":"AAE="}}') == {"a": b"\x00\x01"}
    assert payload_from_json('{"$base64":"x","b":1}') == {"$base64": "x", "b": 1}
    assert math.isnan(payload_from_json('{"a":NaN}')["a"])
    for text, reason in [('{"a":9223372036854775808}', "integer does not fit in 64 bits"),
                         ('{"a":' + str(2**70) + '}', "integer does not fit in 64 bits"),  # orjson: a float
                         ('{"a":-9223372036854775809}', "integer does not fit in 64 bits"),
                         ('{"a":"\\ud800"}', "lone surrogate"), ('{"a":[1]}', "nested list"),
                         ("[1]", "must be bytes or an object"), ("x", "is not JSON")]:
        with pytest.raises(RecordValidationError, match=reason):
            payload_from_json(text)


@pytest.mark.parametrize("text", [
    '{"amount":"1230.63"}', '{"a":1,"a":2}', '{"n":18446744073709551615}', '{"n":123456789012345678901234}',
    '{"x":1e400}', '{"x":NaN}', '{"s":"\\ud800"}', '{"nested":{"a":[1.5]}}', '[1,2]', '"text"', '7', '{}',
    '{"x":0.1,"y":-0.0,"z":null,"b":false}'])
def test_loads_as_json_reads_what_json_reads(text):
    expected = json.loads(text)
    assert repr(loads_as_json(text)) == repr(expected)  # repr: NaN, and an int is not its float


@pytest.mark.parametrize("text", ["", "{", "{'a': 1}", '{"a":1}x', "\ufeff{}"])
def test_loads_as_json_refuses_what_json_refuses(text):
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        loads_as_json(text)
