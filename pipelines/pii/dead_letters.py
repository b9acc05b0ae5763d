"""Masking dead-letter data: whatever bytes a record failed with, nothing stored keeps raw PII.

A dead letter holds a record that could *not* be parsed, validated or masked,
so the policy that failed on it cannot be trusted to mask it.  Every letter
is masked with the generic policy (every value scanned, fields named like
``first_name`` masked whole) before it is stored:

- an Avro envelope: every string field and the payload are masked, and it
  stays an Avro envelope (``shardline dlq redrive`` can still put it back);
- a JSON document (any nesting, duplicate keys kept): every key and scalar
  value is masked, ``{"$base64": ...}`` values are decoded and masked inside;
- anything else, UTF-8 text or undecodable bytes: read as text (invalid bytes
  become U+FFFD), every detector match redacted, ``"key": "value"`` and
  ``key=value`` pairs whose key names an entity redacted, and, for bytes
  that are not UTF-8, every long run of digits redacted too (a number split
  by a bad byte would escape the validating detectors).  The rest is kept,
  so the letter still shows what was wrong.

    mask = DeadLetterMask()                 # bytes -> bytes: FileDeadLetters(path, mask=mask)
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import re
import threading
from typing import Any

import fastavro

from pipelines.pii.entities import entity_for_field_name
from pipelines.pii.errors import MaskingError
from pipelines.pii.masker import Masker
from pipelines.pii.policy import MaskingPolicy, builtin_policy
from pipelines.pii.scanner import Scanner
from pipelines.records import PARSED_SCHEMA, Record, from_avro, to_avro

# "first_name": "Jane"  /  first_name=Jane  /  first_name: Jane  (in text that is not a JSON document)
_PAIR = re.compile(r"""(?P<key>"[^"\\]{1,64}"|'[^'\\]{1,64}'|[A-Za-z_][\w.\-]{0,63})(?P<sep>\s*[:=]\s*)"""
                   r"""(?P<value>"(?:[^"\\]|\\.)*"?|'[^'\\]*'?|[^\s,;&{}\[\]"']+)""")
# Digit runs (with the separators numbers are written with) long enough to be an SSN, card or phone.
_LONG_NUMBER = re.compile(r"\d(?:[\s\-./()]?\d){6,}")
_SCALARS = (str, int, float)
_REPLACED = "\ufffd"  # what a byte that is not UTF-8 is read as


class DeadLetterMask:
    """``bytes -> bytes``: the mask hook for ``FileDeadLetters`` / ``S3DeadLetters``.

    Never raises on its input: whatever the bytes, the result is masked.  Not
    thread-safe (the masker is not): use one per thread, or ``mask_dead_letter``.
    """

    def __init__(self, policy: MaskingPolicy | None = None) -> None:
        policy = policy if policy is not None else builtin_policy("generic", environ={})
        self.masker = Masker(policy)
        self.scanner = Scanner.from_settings(policy.scan)
        self._action_for = policy.action_for

    def __call__(self, data: bytes) -> bytes:
        data = bytes(data)
        try:
            record = self._envelope(data)
            if record is not None:
                return to_avro(self._mask_record(record))
            return self._mask_bytes(data)
        except Exception:  # noqa: BLE001 - e.g. nesting too deep to walk: fall back to the text scan
            return self.mask_text(data.decode("utf-8", errors="replace"), numbers=True).encode("utf-8")

    # --- shapes ------------------------------------------------------------------------------
    @staticmethod
    def _envelope(data: bytes) -> Record | None:
        try:
            record = from_avro(data)
            # The reader ignores trailing bytes: only an exact round trip is an envelope.
            return record if to_avro(record) == data else None
        except Exception:  # noqa: BLE001 - any failure to decode means "not an envelope" as it is
            pass
        # An envelope with a string that is not UTF-8 is refused by every engine, and is still an envelope.
        # Read as text, Avro has no "key": "value" shape, so the text scan left the values of fields such as
        # first_name in clear: read it with the bad bytes as U+FFFD and mask it field by field.
        try:
            buffer = io.BytesIO(data)
            raw = fastavro.schemaless_reader(buffer, PARSED_SCHEMA, handle_unicode_errors="replace")
            return Record(**raw) if buffer.tell() == len(data) else None
        except Exception:  # noqa: BLE001 - not an envelope at all
            return None

    def _mask_record(self, record: Record) -> Record:
        payload = record.payload
        if isinstance(payload, bytes):
            payload = self._mask_bytes(payload)
        else:
            payload = {self.mask_text(k): self._avro_value(k, v) for k, v in payload.items()}
        return Record(id=self.mask_text(record.id), type=self.mask_text(record.type),
                      source=self.mask_text(record.source), partition_key=self.mask_text(record.partition_key),
                      payload=payload, event_time=record.event_time,
                      schema=None if record.schema is None else self.mask_text(record.schema))

    def _avro_value(self, key: str, value: Any) -> Any:
        if isinstance(value, bytes):
            return self._mask_bytes(value)
        if isinstance(value, bool) or value is None:
            return value
        masked = self._scalar(key, value)  # a masked number becomes its masked text: the map takes strings
        if isinstance(value, str) and _REPLACED in value and isinstance(masked, str):
            # Bytes that were not UTF-8 (see _envelope): a number split by one escapes the detectors.
            masked = self.mask_text(masked, numbers=True)
        return masked

    def _mask_bytes(self, data: bytes) -> bytes:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return self.mask_text(data.decode("utf-8", errors="replace"), numbers=True).encode("utf-8")
        try:
            document = json.loads(text, object_pairs_hook=_Pairs)
        except (ValueError, RecursionError):
            return self.mask_text(text).encode("utf-8")
        if not isinstance(document, (_Pairs, list)):
            return self.mask_text(text).encode("utf-8")
        # A "\ud800" escape decodes to a lone surrogate, which UTF-8 cannot encode: the letter fell back to the
        # text scan and lost its envelope.  Surrogates stand only inside JSON strings here, where
        # backslashreplace writes them as the same escape.
        return _dump_json(self._json(None, document)).encode("utf-8", "backslashreplace")

    # --- JSON documents -----------------------------------------------------------------------
    def _json(self, key: str | None, value: Any) -> Any:
        if isinstance(value, _Pairs):
            if len(value) == 1 and value[0][0] == "$base64" and isinstance(value[0][1], str):
                try:
                    inner = base64.b64decode(value[0][1], validate=True)
                except (binascii.Error, ValueError):
                    return _Pairs([("$base64", self.mask_text(value[0][1]))])
                return _Pairs([("$base64", base64.b64encode(self._mask_bytes(inner)).decode("ascii"))])
            return _Pairs([(self.mask_text(k), self._json(k, v)) for k, v in value])
        if isinstance(value, list):
            return [self._json(key, v) for v in value]
        if isinstance(value, bool) or value is None:
            return value
        return self._scalar(key or "", value)

    def _scalar(self, key: str, value: Any) -> Any:
        if not isinstance(value, _SCALARS):
            return self.mask_text(str(value))
        if isinstance(value, str) and value[:1] in ("{", "[") and value[-1:] in ("}", "]"):
            # JSON text inside a field (a flat envelope payload carries nested data so): its keys say what
            # its values are, which a scan of the text cannot read through the escaping.
            try:
                document = json.loads(value, object_pairs_hook=_Pairs)
            except (ValueError, RecursionError):
                document = None
            if isinstance(document, (_Pairs, list)):
                return _dump_json(self._json(None, document))
        try:
            masked, _ = self.masker.mask({key: value})
        except MaskingError:
            return self.mask_text(str(value), numbers=True)
        return masked.get(key, self._action_for("PII").apply("", "PII"))

    # --- text ----------------------------------------------------------------------------------
    def mask_text(self, text: str, *, numbers: bool = False) -> str:
        """Redact detector matches and values of PII-named keys; with ``numbers``, long digit runs too."""
        spans = [(m.start, m.end, m.entity) for m in self.scanner.scan(text)]
        for pair in _PAIR.finditer(text):
            entity = entity_for_field_name(pair.group("key").strip("\"'"))
            start, end = pair.span("value")
            if text[start] in "\"'":  # the quotes stay, so the text keeps its shape
                start, end = start + 1, end - (end - start > 1 and text[end - 1] == text[start])
            if entity is not None and end > start:
                spans.append((start, end, entity))
        if numbers:
            spans.extend((m.start(), m.end(), "NUMBER") for m in _LONG_NUMBER.finditer(text))
        if not spans:
            return text
        pieces, pos = [], 0
        for start, end, entity in _merge(spans):
            pieces.append(text[pos:start])
            pieces.append(self._action_for(entity).apply(text[start:end], entity) or "")
            pos = end
        pieces.append(text[pos:])
        return "".join(pieces)


class _Pairs(list):
    """A JSON object as its (key, value) pairs: duplicate keys are kept (and masked), not collapsed."""


def _dump_json(value: Any) -> str:
    """JSON text for a masked document; objects are written from their pairs, duplicates and all."""
    if isinstance(value, _Pairs):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_dump_json(v)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dump_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _merge(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Overlapping spans joined (the first one's entity names the union), sorted by start."""
    merged: list[tuple[int, int, str]] = []
    # At one start, a detector's entity names the span rather than the catch-all NUMBER.
    for start, end, entity in sorted(spans, key=lambda span: (span[0], span[2] == "NUMBER", -span[1])):
        if merged and start < merged[-1][1]:
            s, e, first = merged[-1]
            merged[-1] = (s, max(e, end), first)
        else:
            merged.append((start, end, entity))
    return merged


# --- the by-name entry point ------------------------------------------------------------------

_local = threading.local()


def mask_dead_letter(data: bytes) -> bytes:
    """``pipelines.pii.dead_letters:mask_dead_letter``: this thread's ``DeadLetterMask()`` applied to ``data``."""
    mask = getattr(_local, "mask", None)
    if mask is None:
        mask = _local.mask = DeadLetterMask()
    return mask(data)
