"""The connector jar's envelope.avsc (the schema of the Avro containers its S3 sink writes) is pipelines.records'."""
import json
from pathlib import Path

from pipelines.records import ENVELOPE_SCHEMA

SCHEMA = Path(__file__).resolve().parents[3] / "connectors/flink_java/src/main/resources/envelope.avsc"


def test_the_jar_writes_the_envelope_schema_python_reads():
    assert json.loads(SCHEMA.read_text()) == ENVELOPE_SCHEMA
