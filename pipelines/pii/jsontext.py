"""Masking JSON text so that what the policy does not touch keeps its exact bytes.

``json.loads`` then ``json.dumps`` is not an identity: ``1.10`` becomes
``1.1``, ``1e5`` becomes ``100000.0``, ``"\\u00e9"`` becomes ``"é"`` (or the
reverse), spacing and key order may change.  Downstream checksums, diffs and
signatures break on that, and a user reading ``shardline pii mask`` output
would see fields change that the policy never named.  So the text is parsed
for the *positions* of the object's members, the parsed object is masked,
and only the members whose value changed are re-serialised and spliced back
in; every other byte (whitespace and separators included) is copied.

    line = '{"id":"r1","payload":{"ssn":"123-45-6789","amount":1.10}}'
    masked, counts = mask_json_line(masker, line)   # amount stays "1.10"

A line is an *envelope* (``pipelines.records``) when it has a ``payload`` key
and every key is an envelope field; its payload is masked (an object in
place, a ``{"$base64": ...}`` payload holding a JSON object decoded, masked
and re-encoded).  Any other object is masked as a payload itself.
"""
from __future__ import annotations

import base64
import binascii
import json
from json.decoder import scanstring
from typing import Any, Mapping, NamedTuple

from pipelines.pii.errors import MaskingError
from pipelines.pii.masker import Masker
from pipelines.records import (ENVELOPE_SCHEMA, LONE_SURROGATE, RecordValidationError, lone_surrogate_path,
                               may_hold_lone_surrogates, validate)

ENVELOPE_FIELDS = frozenset(f["name"] for f in ENVELOPE_SCHEMA["fields"])
_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"


class Member(NamedTuple):
    """One ``"key": value`` of a JSON object: text[key_start:value_start] is the key and colon."""

    key: str
    value: Any
    key_start: int
    value_start: int
    value_end: int


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def object_members(text: str, start: int = 0) -> tuple[list[Member], int, int]:
    """The members of the JSON object at ``text[start:]``, and the object's (start, end).

    Values are decoded by ``json``'s own C scanner; this only walks the
    punctuation between them.  Raises ``MaskingError`` if the text is not an object.
    """
    pos = _skip(text, start)
    if pos >= len(text) or text[pos] != "{":
        raise MaskingError(None, "not a JSON object")
    obj_start = pos
    members: list[Member] = []
    pos = _skip(text, pos + 1)
    if pos < len(text) and text[pos] == "}":
        return members, obj_start, pos + 1
    try:
        while True:
            if pos >= len(text) or text[pos] != '"':
                raise ValueError("expected a key")
            key_start = pos
            key, pos = scanstring(text, pos + 1)
            pos = _skip(text, pos)
            if pos >= len(text) or text[pos] != ":":
                raise ValueError("expected ':'")
            value_start = _skip(text, pos + 1)
            value, pos = _DECODER.raw_decode(text, value_start)
            members.append(Member(key, value, key_start, value_start, pos))
            pos = _skip(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos = _skip(text, pos + 1)
                continue
            if pos < len(text) and text[pos] == "}":
                return members, obj_start, pos + 1
            raise ValueError("expected ',' or '}'")
    except ValueError as exc:
        # json's messages quote no input, only positions; keep just the column.
        raise MaskingError(None, f"malformed JSON near column {pos + 1} ({str(exc).split(':')[0]})") from None


def _bytes_or_value(key: str, value: Any) -> Any:
    """``{"$base64": ...}`` is how JSON lines carry a bytes value (``pipelines.records``)."""
    if isinstance(value, dict) and set(value) == {"$base64"}:
        try:
            return base64.b64decode(value["$base64"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise MaskingError(key, "'$base64' is not valid base64") from None
    return value


def _unchanged(before: Any, after: Any) -> bool:
    return before is after or (type(before) is type(after) and before == after)


def _dump(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return json.dumps({"$base64": base64.b64encode(value).decode("ascii")}, separators=(",", ":"))
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def splice(text: str, members: list[Member], obj_start: int, obj_end: int,
           replacements: Mapping[int, str | None]) -> str:
    """``text[obj_start:obj_end]`` with member ``i``'s value text replaced (None: the member removed)."""
    if not replacements:
        return text[obj_start:obj_end]
    pieces = [text[obj_start:members[0].key_start]]
    previous_end, first = None, True
    for i, m in enumerate(members):
        new = replacements.get(i, text[m.value_start:m.value_end])
        gap = text[previous_end:m.key_start] if previous_end is not None else ""
        previous_end = m.value_end
        if new is None:
            continue
        if not first:
            pieces.append(gap)  # the original separator before this member (its comma and spacing)
        pieces.append(text[m.key_start:m.value_start])
        pieces.append(new)
        first = False
    pieces.append(text[members[-1].value_end:obj_end])
    return "".join(pieces)


def mask_json_object(masker: Masker, text: str, start: int = 0) -> tuple[str, dict[str, int], int, int]:
    """Mask the flat JSON object at ``text[start:]``: (masked object text, counts, object start, object end)."""
    members, obj_start, obj_end = object_members(text, start)
    masked, counts = _mask_members(masker, text, members, obj_start, obj_end)
    return masked, counts, obj_start, obj_end


def _refuse_lone_surrogates(text: str, members: list[Member], error: type = MaskingError) -> None:
    """A lone surrogate (from an unpaired ``\\ud800`` escape) cannot be hashed or written as UTF-8: masking
    failed with a UnicodeEncodeError, a reason that names no field.  Refuse it by field, in the words every
    engine uses (``pipelines.records``); text without such an escape is not walked."""
    if may_hold_lone_surrogates(text):
        where = lone_surrogate_path({m.key: m.value for m in members})
        if where is not None:
            raise error(where, LONE_SURROGATE)


def _mask_members(masker: Masker, text: str, members: list[Member], obj_start: int,
                  obj_end: int) -> tuple[str, dict[str, int]]:
    _refuse_lone_surrogates(text, members)
    keys = [m.key for m in members]
    if len(set(keys)) != len(keys):
        # json.loads keeps the last duplicate; masking only that one could pass an earlier value through.
        duplicate = next(k for i, k in enumerate(keys) if k in keys[:i])
        raise MaskingError(duplicate, "appears twice in one object; which value is meant is ambiguous")
    payload = {m.key: _bytes_or_value(m.key, m.value) for m in members}
    masked, counts = masker.mask(payload)
    replacements: dict[int, str | None] = {}
    for i, m in enumerate(members):
        if m.key not in masked:
            replacements[i] = None
        elif not _unchanged(payload[m.key], masked[m.key]):
            replacements[i] = _dump(masked[m.key])
    return splice(text, members, obj_start, obj_end, replacements), counts


def mask_json_bytes(masker: Masker, data: bytes) -> tuple[bytes, dict[str, int]]:
    """Mask a UTF-8 JSON object carried as bytes (an opaque record payload), keeping untouched bytes."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MaskingError(None, f"payload is not valid UTF-8 (invalid byte at offset {exc.start}); "
                                 "PII cannot be detected in undecodable bytes") from None
    masked, counts, obj_start, obj_end = mask_json_object(masker, text)
    if text[obj_end:].strip(_WHITESPACE):
        raise MaskingError(None, f"payload has data after its JSON object (at offset {obj_end})")
    return (text[:obj_start] + masked + text[obj_end:]).encode("utf-8"), counts


def is_envelope(members: list[Member]) -> bool:
    keys = {m.key for m in members}
    return "payload" in keys and keys <= ENVELOPE_FIELDS


def mask_json_line(masker: Masker, line: str) -> tuple[str, dict[str, int]]:
    """Mask one JSON line: an envelope's payload, or a flat object as a payload.

    Raises ``MaskingError`` or ``RecordValidationError`` for lines that are
    not JSON objects, invalid envelopes, or payloads the masker cannot read;
    messages name fields and columns, never values.
    """
    members, obj_start, obj_end = object_members(line)
    if line[obj_end:].strip(_WHITESPACE):
        raise MaskingError(None, f"data after the JSON object at column {obj_end + 1}")
    if not is_envelope(members):
        masked, counts = _mask_members(masker, line, members, obj_start, obj_end)
        return line[:obj_start] + masked + line[obj_end:], counts
    _refuse_lone_surrogates(line, members, RecordValidationError)  # "payload.notes", as the local runner says
    envelope = {m.key: m.value for m in members}
    if len(envelope) != len(members):
        raise RecordValidationError("<record>", "a field appears twice")
    payload_index = next(i for i, m in enumerate(members) if m.key == "payload")
    member = members[payload_index]
    payload = member.value
    if isinstance(payload, dict) and set(payload) == {"$base64"}:
        validate({**envelope, "payload": b""})
        try:
            data = base64.b64decode(payload["$base64"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise RecordValidationError("payload", "'$base64' is not valid base64") from None
        masked_bytes, counts = mask_json_bytes(masker, data)
        if masked_bytes == data:
            return line, counts
        new_value = _dump(masked_bytes)
    else:
        validate(envelope)  # the envelope's rules (required fields, scalar payload values)
        masked_text, counts, _, _ = mask_json_object(masker, line, member.value_start)
        new_value = masked_text
        if new_value == line[member.value_start:member.value_end]:
            return line, counts
    return line[:obj_start] + splice(line, members, obj_start, obj_end, {payload_index: new_value}) \
        + line[obj_end:], counts
