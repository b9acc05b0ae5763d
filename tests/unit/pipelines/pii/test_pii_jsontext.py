"""Masking JSON text: only changed members are re-serialised; every other byte is kept."""
import base64
import json

import pytest

from pipelines.pii import Masker, MaskingError, builtin_policy, parse_policy
from pipelines.pii.jsontext import mask_json_bytes, mask_json_line, object_members
from pipelines.records import RecordValidationError

ENV = {"SHARDLINE_PII_HMAC_KEY": "ab" * 32, "SHARDLINE_PII_FPE_KEY": "cd" * 16}


def payments() -> Masker:
    return Masker(builtin_policy("payments", environ=ENV))


def test_members_carry_exact_value_spans():
    text = '{ "a" : 1.10 ,"b":"\\u00e9", "c": {"d": [1, 2]} }'
    members, start, end = object_members(text)
    assert (start, end) == (0, len(text))
    assert [(m.key, text[m.value_start:m.value_end]) for m in members] == [
        ("a", "1.10"), ("b", '"\\u00e9"'), ("c", '{"d": [1, 2]}')]


def test_untouched_members_keep_their_bytes_and_changed_ones_are_spliced_in_place():
    line = ('{"purchase_value": 1.10, "big": 1E+5, "country":"\\u0055S", "ssn" :  "123-45-6789",'
            '  "notes": "caf\\u00e9, no PII", "x": {"nested": [1.0, "a"]}}')
    masked, counts = mask_json_line(payments(), line)
    assert counts == {"US_SSN": 1}
    expected_ssn = payments().mask({"ssn": "123-45-6789"})[0]["ssn"]
    assert masked == line.replace('"123-45-6789"', f'"{expected_ssn}"')


def test_an_envelope_has_its_payload_masked_and_the_rest_kept():
    line = ('{"id":"r1","type":"t","source":"s","event_time":5,"partition_key":"k","schema":null,'
            '"payload":{"email":"jo@example.com","purchase_value":2.50}}')
    masked, counts = mask_json_line(payments(), line)
    assert counts == {"EMAIL": 1}
    assert masked.startswith(line[:line.index('"email"')]) and masked.endswith('"purchase_value":2.50}}')
    assert "jo@example.com" not in masked


def test_a_base64_payload_holding_json_is_masked_inside_and_re_encoded():
    inner = b'{"ssn": "123-45-6789", "amount": 1.10}'
    line = json.dumps({"id": "r1", "type": "t", "source": "s", "event_time": 5, "partition_key": "k",
                       "payload": {"$base64": base64.b64encode(inner).decode()}})
    masked, counts = mask_json_line(payments(), line)
    data = base64.b64decode(json.loads(masked)["payload"]["$base64"])
    assert counts == {"US_SSN": 1} and b"6789" not in data and data.endswith(b'"amount": 1.10}')


def test_a_line_with_nothing_to_mask_comes_back_identical():
    line = '{"id":"r1","type":"t","source":"s","event_time":5,"partition_key":"k","payload":{"country":"US"}}'
    assert mask_json_line(payments(), line) == (line, {})


def test_dropped_fields_leave_valid_json_whichever_position_they_held():
    masker = Masker(parse_policy({"fields": {"a": {"entity": "X", "action": "drop"}, "keep": "keep"}}))
    for line in ('{"a": "1", "keep": 2}', '{"keep": 2, "a": "1"}', '{"keep": 2, "a": "1", "z": 3}', '{"a": "x"}'):
        masked, _ = mask_json_line(masker, line)
        parsed = json.loads(masked)
        assert "a" not in parsed and parsed == {k: v for k, v in json.loads(line).items() if k != "a"}


def test_bytes_members_use_the_base64_convention():
    line = json.dumps({"ssn": {"$base64": base64.b64encode(b"123-45-6789").decode()}, "country": "US"})
    masked, counts = mask_json_line(payments(), line)
    assert counts == {"US_SSN": 1}
    assert b"6789" not in base64.b64decode(json.loads(masked)["ssn"]["$base64"])


@pytest.mark.parametrize("line, error, message", [
    ('{"ssn": "1", "ssn": "123-45-6789"}', MaskingError, "field 'ssn': appears twice"),
    ('{"ssn": "123-45-6789"', MaskingError, "malformed JSON near column"),
    ('["123-45-6789"]', MaskingError, "not a JSON object"),
    ('{"a": 1} trailing', MaskingError, "data after the JSON object"),
    ('{"id":"r","type":"t","source":"s","partition_key":"k","payload":{"ssn":"123-45-6789"}}',
     RecordValidationError, "event_time"),
    ('{"email": {"nested": "a@b.com"}}', MaskingError, "dict values cannot be masked"),
])
def test_bad_lines_raise_errors_that_quote_nothing(line, error, message):
    with pytest.raises(error, match=message) as info:
        mask_json_line(payments(), line)
    assert "6789" not in str(info.value) and "a@b.com" not in str(info.value)


def test_bytes_payloads_must_be_utf8_json_objects():
    assert mask_json_bytes(payments(), b' {"country": "US"} \n') == (b' {"country": "US"} \n', {})
    with pytest.raises(MaskingError, match="not valid UTF-8"):
        mask_json_bytes(payments(), b'{"ssn": "\xff"}')
    with pytest.raises(MaskingError, match="after its JSON object"):
        mask_json_bytes(payments(), b'{"a": 1}{"ssn": "123-45-6789"}')
