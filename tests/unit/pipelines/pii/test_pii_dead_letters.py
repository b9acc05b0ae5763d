"""Dead-letter data masked with the generic policy, whatever shape the bytes have."""
import base64
import json
import pytest

from pipelines.pii.dead_letters import DeadLetterMask, mask_dead_letter
from pipelines.records import Record, from_avro, to_avro, to_json_line
from tests.pii_canaries import canary_payment, leaks


def canary_record(**payload) -> Record:
    return Record(id="r1", type="payment.created", source="test", partition_key="acct-1",
                  payload={**canary_payment(1_700_000_000_000), **payload}, event_time=1_700_000_000_000)


@pytest.fixture(scope="module")
def mask():
    return DeadLetterMask()


def test_an_avro_envelope_stays_an_envelope_with_its_values_masked(mask):
    record = canary_record(ssn=b"\xff536-22-1234")  # the kind of record the masker refused
    masked = from_avro(mask(to_avro(record)))
    assert (masked.id, masked.event_time, masked.partition_key) == (record.id, record.event_time, "acct-1")
    assert masked.payload["country"] == "US" and masked.payload["purchase_value"] == 12.5
    assert leaks({"letter": to_avro(masked)}) == []


def test_a_json_document_is_masked_at_every_depth_duplicates_included(mask):
    document = ('{"a": {"email": "zebulon.canary@example.org", "list": [4929123456789015, "ip 203.0.113.77"]},'
                ' "a": "536-22-1234", "zebulon.canary@example.org": 1,'
                f' "b": {{"$base64": "{base64.b64encode(b"card 4929123456789015").decode()}"}}}}')
    out = mask(document.encode())
    assert leaks({"letter": out}) == []
    assert out.count(b'"a":') == 2 and json.loads(out)["a"] == "[US_SSN]"


@pytest.mark.parametrize("data", [
    to_json_line(canary_record()).encode()[:-5],             # a truncated JSON line
    b"\xff\xfe" + to_json_line(canary_record()).encode(),    # not UTF-8
    b"ssn=536-22-1234; first_name=Zebulon 'last_name': 'Quartermaine' 4929 1234 \xff5678 9015",
    b"\x01not an envelope " + to_avro(canary_record())[:40],
])
def test_text_and_undecodable_bytes_keep_their_shape_but_lose_the_pii(mask, data):
    out = mask(data)
    assert leaks({"letter": out}) == []
    assert out.decode("utf-8")  # stored as valid UTF-8
    if data.startswith(b"ssn="):
        assert out.startswith(b"ssn=[US_SSN]; first_name=[PERSON_NAME] 'last_name': '[PERSON_NAME]'")


def test_the_by_name_hook_masks_too():
    assert b"536-22-1234" not in mask_dead_letter(b"SSN 536-22-1234")


def test_documents_too_deep_to_walk_are_still_masked_as_text(mask):
    for data in (b"[" * 5000 + b'"536-22-1234"' + b"]" * 5000, b'{"a":' * 3000 + b'"536-22-1234"' + b"}" * 3000):
        assert b"536-22-1234" not in mask(data)
