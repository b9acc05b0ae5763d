"""Which fields of a file hold which PII, and what a policy does with them: the logic of ``shardline pii scan``.

>>> from pipelines.pii import builtin_policy
>>> from pipelines.pii.policy import ClassifySettings
>>> scan = FieldScan(builtin_policy("generic", environ={}), ClassifySettings(sample=1.0, threshold=0.1, min_samples=1))
>>> scan.add(1, b'{"note": "mail jo@example.com", "amount": 5}')
>>> scan.add(2, b'not json')
>>> report = scan.report("in.jsonl")
>>> [(f["field"], f["label"]) for f in report["fields"]], report["bad_lines"]
([('note', 'EMAIL'), ('amount', None)], [{'line': 2, 'reason': 'malformed JSON at column 1'}])
"""
from __future__ import annotations

import base64
import binascii
import json
import random
from typing import Callable

from pipelines.pii.classify import ColumnClassifier
from pipelines.pii.entities import entity_for_field_name
from pipelines.pii.errors import MaskingError
from pipelines.pii.jsontext import ENVELOPE_FIELDS
from pipelines.pii.policy import KEEP, SCAN, ClassifySettings, MaskingPolicy
from pipelines.pii.scanner import Scanner
from pipelines.pii.values import NOT_TEXT, text_of


def payload_of(document: dict) -> dict | None:
    """The fields to scan: an envelope's payload (an object, or bytes holding one), else the object itself."""
    if "payload" not in document or not set(document) <= ENVELOPE_FIELDS:
        return document
    payload = document["payload"]
    if isinstance(payload, dict) and set(payload) == {"$base64"}:
        try:
            payload = json.loads(base64.b64decode(payload["$base64"], validate=True))
        except (binascii.Error, ValueError, TypeError):
            return None
    return payload if isinstance(payload, dict) else None


def parse_line(body: bytes) -> tuple[dict | None, str | None]:
    """(the payload to scan, None), or (None, why the line cannot be scanned)."""
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8 (invalid byte at offset {exc.start})"
    except json.JSONDecodeError as exc:
        return None, f"malformed JSON at column {exc.colno}"
    payload = payload_of(document) if isinstance(document, dict) else None
    if payload is None:
        return None, "not a JSON object, or an envelope without an object payload"
    return payload, None


def treatment(policy: MaskingPolicy, name: str) -> tuple[str, bool]:
    """What the policy does with field ``name``, and whether that leaves its values as they are."""
    rule = policy.fields.get(name)
    if rule is None:
        if policy.mode == "fields":
            return "not listed: passed through", True
        return ("scanned (cells mode)" if policy.mode == "cells" else "classified"), False
    if rule.kind == KEEP:
        return "keep", True
    if rule.kind == SCAN:
        return "scanned", False
    return f"{rule.action.name} as {rule.entity}", False


class FieldScan:
    """Lines in, a report out: per field, the entities found in a sample, the label, and the policy's treatment."""

    def __init__(self, policy: MaskingPolicy, settings: ClassifySettings,
                 random_source: Callable[[], float] | None = None) -> None:
        self.policy = policy
        self.settings = settings
        self.scanner = Scanner.from_settings(policy.scan)
        self.classifier = ColumnClassifier(settings, random_source or random.Random(0).random)
        self.records = self.sampled = 0
        self.bad: list[dict] = []
        self.fields: dict[str, None] = {}

    def add(self, number: int, body: bytes) -> None:
        if not body.strip():
            return
        payload, reason = parse_line(body)
        if payload is None:
            self.bad.append({"line": number, "reason": reason})
            return
        self.records += 1
        self.fields.update(dict.fromkeys(payload))
        if not self.classifier.should_sample():
            return
        self.sampled += 1
        for name, value in payload.items():
            try:
                text = text_of(name, value)
            except MaskingError:
                continue  # nested values: the masker rejects them too; they are not scalars to scan
            if text is NOT_TEXT or text == "":
                continue
            self.classifier.observe(name, [m.entity for m in self.scanner.scan(text)])

    def report(self, input_name: str) -> dict:
        stats = self.classifier.report()
        fields = []
        for name in self.fields:
            column = stats.get(name)
            hint = entity_for_field_name(name) if self.policy.scan.field_hints else None
            label = (column.label if column else None) or hint
            how, passes_through = treatment(self.policy, name)
            fields.append({"field": name, "sampled": column.samples if column else 0,
                           "entities": dict(sorted((column.entities if column else {}).items(),
                                                   key=lambda kv: -kv[1])),
                           "label": label, "policy": how, "unmasked": bool(label) and passes_through})
        return {"policy": self.policy.name, "input": input_name, "records": self.records, "sampled": self.sampled,
                "sample": self.settings.sample, "threshold": self.settings.threshold,
                "min_samples": self.settings.min_samples, "fields": fields,
                "unmasked_fields": [f["field"] for f in fields if f["unmasked"]], "bad_lines": self.bad}
