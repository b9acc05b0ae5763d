"""One record path for every engine: decode, validate, run the pipeline, check the outputs, or say why not.

The local runner, the KCL processor and the PyFlink job each call
``RecordPath`` for every record and keep only their I/O (reading, writing,
checkpoints).  So a record is rejected by the same step, with the same
``error_type`` and ``reason``, whichever engine runs it, and the dead letter's
source names its position in one form (``kinesis_source``).

Reasons follow one rule: our own wording and the field path for what we
check (``pipelines.errors.FieldError``: envelope validation, masking), and only the exception
type for anything a pipeline raises, because its message may quote the record.

>>> def pipeline(record):
...     if record.payload.get("email") == "":
...         raise ValueError(f"bad email {record.payload['email']!r} for {record.partition_key}")
...     return record
>>> path = RecordPath(pipeline)
>>> ok = validate({"id": "r1", "type": "t", "source": "s", "event_time": 1, "partition_key": "jane@example.com",
...                "payload": {"email": ""}})
>>> path.from_record(ok)
Rejected(error_type='ValueError', reason='the pipeline raised ValueError', step='pipeline')
>>> path.from_bytes(b"not an envelope")
Rejected(error_type='RecordValidationError', reason="field '<record>': not a shardline Avro envelope (EOFError)", step='decode')
>>> kinesis_source("orders", "shardId-000000000001", "49590338271490256608559692538361571095921575989136588898", 3)
'kinesis:orders/shardId-000000000001/49590338271490256608559692538361571095921575989136588898:3'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Union

from pipelines.errors import FieldError
from pipelines.records import Record, RecordValidationError, from_avro, to_avro, validate

PipelineFn = Callable[[Record], Union[Record, Iterable[Record], None]]
"""The contract: a ``Record`` in; a ``Record``, an iterable of them, or ``None`` (filtered out) back.
(A pipeline written for a sink of its own may return ``SinkItem``s instead.)"""

MAX_OUTPUT_BYTES = 1024 * 1024
"""An output must fit one Kinesis record (1 MiB, data and partition key) to go anywhere downstream."""


class SinkItem:
    """Base of outputs that are not records but items for a sink built to take them (the video sink takes
    segment parts): ``RecordPath`` passes them on unchecked, where any other non-record output is refused."""

    __slots__ = ()


@dataclass(frozen=True)
class Rejected:
    """Why a record was not processed: a stable code, words a user can act on, and the step that refused it."""

    error_type: str
    reason: str
    step: str
    """``decode``, ``validate``, ``pipeline`` or ``output``."""


def rejection(exc: BaseException, step: str) -> Rejected:
    """The one rule for reasons: our field-level wording for our own checks (``FieldError``), the exception's
    type alone for anything else, whose message may quote the record."""
    if isinstance(exc, FieldError):
        reason = f"field '{exc.field}': {exc.reason}" if exc.field is not None else exc.reason
        return Rejected(type(exc).__name__, reason, step)
    return Rejected(type(exc).__name__, f"the pipeline raised {type(exc).__name__}", step)


def kinesis_source(stream: str, shard_id: str, sequence_number: str, sub_sequence_number: int = 0) -> str:
    """Where a record was read: ``kinesis:<stream>/<shard>/<sequence>[:<sub-sequence>]``, in every engine."""
    source = f"kinesis:{stream}/{shard_id}/{sequence_number}"
    return f"{source}:{sub_sequence_number}" if sub_sequence_number else source


class RecordPath:
    """A pipeline function with the steps around it that every engine runs the same way."""

    def __init__(self, pipeline: PipelineFn, *, max_output_bytes: int | None = MAX_OUTPUT_BYTES) -> None:
        """``max_output_bytes=None``: the engine checks each output's size where it encodes it (the Flink SQL
        path, in Java: ``kinesis_record_fit``, with this reason), so the path does not check it twice."""
        self.pipeline = pipeline
        self.max_output_bytes = max_output_bytes

    def from_bytes(self, data: bytes) -> list[Record] | Rejected:
        """An Avro envelope off a stream: decoded and validated once, then the pipeline."""
        try:
            decoded = from_avro(data)
        except RecordValidationError as exc:
            return rejection(exc, "decode")
        try:
            record = validate(decoded.as_dict())
        except RecordValidationError as exc:
            return rejection(exc, "validate")
        return self.from_record(record)

    def from_record(self, record: Record) -> list[Record] | Rejected:
        """A record already decoded and validated (read from a JSON-lines file, say)."""
        try:
            result = self.pipeline(record)
            outputs = [] if result is None else [result] if isinstance(result, Record) else list(result)
        except Exception as exc:  # noqa: BLE001 - whatever user code raises is about this record only
            return rejection(exc, "pipeline")
        for output in outputs:
            if isinstance(output, SinkItem):
                continue
            if not isinstance(output, Record):
                return Rejected("PipelineOutputError", f"the pipeline returned a {type(output).__name__}, not a "
                                "Record", "output")
            if self.max_output_bytes is None or _size_bound(output) <= self.max_output_bytes:
                continue  # the common case: surely small enough, so not encoded here (sinks encode it)
            size = len(to_avro(output)) + len(output.partition_key.encode("utf-8"))
            if size > self.max_output_bytes:
                return Rejected("RecordTooLarge", f"an output record is {size} bytes (envelope and partition key); "
                                f"a Kinesis record holds at most {self.max_output_bytes}", "output")
        return outputs


def _size_bound(record: Record) -> int:
    """An upper bound of the envelope's Avro size plus its partition key, without encoding it.

    Text counts 4 bytes a character (UTF-8's most), every value 11 bytes more (a varint length or number and
    a union branch), so a record under the bound is under the limit.
    """
    texts = (record.id, record.type, record.source, record.partition_key, record.partition_key, record.schema or "")
    bound = 64 + sum(4 * len(text) + 11 for text in texts)
    payload = record.payload
    if isinstance(payload, bytes):
        return bound + len(payload) + 11
    for key, value in payload.items():
        bound += 4 * len(key) + 22
        if isinstance(value, str):
            bound += 4 * len(value)
        elif isinstance(value, bytes):
            bound += len(value)
    return bound
