"""The Java envelope codec's test vectors are what pipelines.records writes today (they cannot drift apart)."""
import base64
import json
from pathlib import Path

from pipelines.engine import RecordPath
from pipelines.records import from_avro, payload_to_json, to_json_line

VECTORS = Path(__file__).resolve().parents[3] / "connectors/flink_java/src/test/resources/envelope_vectors.json"


def test_valid_vectors_are_python_envelopes_with_those_fields():
    for vector in json.loads(VECTORS.read_text())["valid"]:
        record = from_avro(base64.b64decode(vector["avro"]))
        line = json.loads(to_json_line(record))
        assert {k: line[k] for k in ("id", "type", "source", "event_time", "partition_key", "schema", "payload")} == {
            k: vector[k] for k in ("id", "type", "source", "event_time", "partition_key", "schema", "payload")}
        if "payload_json" in vector:  # where Java writes the payload's JSON as Python does, byte for byte
            assert vector["payload_json"] == payload_to_json(record.payload)


def test_invalid_vectors_are_refused_by_the_record_path_with_those_reasons():
    path = RecordPath(lambda record: record)
    for vector in json.loads(VECTORS.read_text())["invalid"]:
        assert path.from_bytes(base64.b64decode(vector["avro"])).reason == vector["reason"]
