"""The masker: one record payload in, the masked payload and per-entity counts out.

It never returns, logs or raises with a raw value; errors name the field only.
Fields the policy does not touch are passed through as the same object.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Mapping, NamedTuple

from pipelines.pii.actions import Action
from pipelines.pii.classify import ColumnClassifier
from pipelines.pii.detectors import EntityRecognizer, Match
from pipelines.pii.entities import entity_for_field_name
from pipelines.pii.errors import MaskingError
from pipelines.pii.normalize import fold
from pipelines.pii.policy import KEEP, SCAN, TYPED, MaskingPolicy, ScanSettings
from pipelines.pii.scanner import Scanner
from pipelines.pii.values import NOT_TEXT, text_of

_DROP = object()  # sentinel: the action dropped the field
_KEEP, _TYPED, _SCAN = 0, 1, 2  # how a listed field is masked (see Masker._routes)
_MAX_HINT_CACHE = 10_000
_MAX_CACHED_ACTIONS = 1_000  # entity types whose action's apply is kept at hand (a recognizer may invent many)


class MaskResult(NamedTuple):
    """The masked payload, and how many values of each entity type were masked."""

    payload: dict[str, Any]
    counts: dict[str, int]


class Masker:
    """Applies a ``MaskingPolicy`` to record payloads (flat mappings of scalars).

    ``recognizer`` plugs an NER model into every scan; ``rng`` drives classify
    mode's sampling (a zero-argument callable returning floats in [0, 1)).
    Not thread-safe (classification state, cipher objects): use one per worker.
    """

    def __init__(self, policy: MaskingPolicy, *, recognizer: EntityRecognizer | None = None,
                 rng: Callable[[], float] | None = None) -> None:
        self.policy = policy
        self._recognizer = recognizer
        self._scanners: dict[ScanSettings, Scanner] = {}
        self._scanner = self._scanner_for(policy.scan)
        self._field_scanners = {name: self._scanner_for(rule.scan) for name, rule in policy.fields.items()
                                if rule.kind == SCAN and rule.scan is not None}
        self._plans = policy.fields
        # The hot paths, one lookup per field: kept fields, whole-value fields
        # (action, entity) and scanned fields (the scanner's scan).
        self._routes: dict[str, tuple[int, Any, Any]] = {}
        for name, rule in policy.fields.items():
            if rule.kind == KEEP:
                self._routes[name] = (_KEEP, None, None)
            elif rule.kind == TYPED and rule.action is not None:
                self._routes[name] = (_TYPED, rule.action.apply, rule.entity)
            elif rule.kind == SCAN:
                self._routes[name] = (_SCAN, self._field_scanners.get(name, self._scanner).scan, None)
        self._applies: dict[str, Callable[[str, str], str | None]] = {}  # policy.action_for(entity).apply
        self._mode = policy.mode
        self.classifier = ColumnClassifier(policy.classify, rng) if policy.mode == "classify" else None
        self._hints: dict[str, str | None] = {}

    def _scanner_for(self, settings: ScanSettings) -> Scanner:
        if settings not in self._scanners:
            self._scanners[settings] = Scanner.from_settings(settings, self._recognizer)
        return self._scanners[settings]

    # --- the public surface ---------------------------------------------------------

    def mask(self, payload: Mapping[str, Any]) -> MaskResult:
        """Mask one payload.  Raises ``MaskingError`` (naming the field) for values it cannot read."""
        if not isinstance(payload, dict) and not isinstance(payload, Mapping):
            raise MaskingError(None, f"a payload to mask must be a mapping of fields, not "
                                     f"{type(payload).__name__}; decode bytes payloads first (see mask_json)")
        out: dict[str, Any] = {}
        counts: dict[str, int] = {}
        routes, plans, mode = self._routes, self._plans, self._mode
        sampled: bool | None = None
        for name, value in payload.items():
            # Listed fields holding strings: the hot paths, kept inline.
            route = routes.get(name)
            if route is not None:
                kind, fn, entity = route
                if kind == _KEEP:
                    out[name] = value
                    continue
                if type(value) is str:
                    if kind == _TYPED:
                        if value:
                            value = fn(value, entity)
                            counts[entity] = counts.get(entity, 0) + 1
                            if value is None:  # dropped
                                continue
                    elif value:  # scanned
                        matches = fn(value)
                        if matches:
                            value = self._replace(value, matches, counts)
                    out[name] = value
                    continue
            rule = plans.get(name)
            if rule is None:
                if mode == "fields":
                    out[name] = value
                    continue
                if mode == "cells":
                    result = self._cell(name, value, counts)
                else:
                    if sampled is None:
                        sampled = self.classifier.should_sample()  # type: ignore[union-attr]
                    result = self._classified(name, value, counts, sampled)
            elif rule.kind == TYPED:
                result = self._whole(name, value, rule.entity, rule.action, counts)  # type: ignore[arg-type]
            elif rule.kind == SCAN:
                result = self._scan(name, value, self._field_scanners.get(name, self._scanner), counts)
            else:  # keep
                result = value
            if result is not _DROP:
                out[name] = result
        return MaskResult(out, counts)

    def mask_json(self, data: bytes | str) -> MaskResult:
        """Mask a payload carried as a UTF-8 JSON object (an opaque ``bytes`` record payload)."""
        if isinstance(data, (bytes, bytearray)):
            try:
                data = bytes(data).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MaskingError(None, f"payload is not valid UTF-8 (invalid byte at offset {exc.start}); "
                                         "PII cannot be detected in undecodable bytes") from None
        try:
            parsed = json.loads(data)
        except json.JSONDecodeError as exc:
            raise MaskingError(None, f"payload is not JSON (error at line {exc.lineno}, "
                                     f"column {exc.colno})") from None
        if not isinstance(parsed, dict):
            raise MaskingError(None, f"payload is a JSON {type(parsed).__name__}, not an object of fields")
        return self.mask(parsed)

    # --- per-field strategies -------------------------------------------------------------

    def _whole(self, name: str, value: Any, entity: str, action: Action, counts: dict[str, int]) -> Any:
        text = text_of(name, value)
        if text is NOT_TEXT or text == "":
            return value
        masked = action.apply(text, entity)  # type: ignore[arg-type]
        counts[entity] = counts.get(entity, 0) + 1
        if masked is None:
            return _DROP
        return masked.encode("utf-8") if isinstance(value, (bytes, bytearray)) else masked

    def _scan(self, name: str, value: Any, scanner: Scanner, counts: dict[str, int],
              matches: list[Match] | None = None) -> Any:
        if matches is None:
            text = text_of(name, value)
            if text is NOT_TEXT or text == "":
                return value
            matches = scanner.scan(text)  # type: ignore[arg-type]
        if not matches:
            return value
        text = text_of(name, value)
        masked = self._replace(text, matches, counts)  # type: ignore[arg-type]
        return masked.encode("utf-8") if isinstance(value, (bytes, bytearray)) else masked

    def _replace(self, text: str, matches: list[Match], counts: dict[str, int]) -> str:
        pieces, pos = [], 0
        applies = self._applies
        for m in matches:
            entity, start = m.entity, m.start
            apply = applies.get(entity)
            if apply is None:
                apply = self.policy.action_for(entity).apply
                if len(applies) < _MAX_CACHED_ACTIONS:
                    applies[entity] = apply
            pieces.append(text[pos:start])
            pos = m.end
            # The action reads the value as the detector did (folded: ASCII digits, no invisible
            # characters), so a hash or token does not depend on how the value was typed.
            replacement = apply(fold(text[start:pos]), entity)
            if replacement is not None:
                pieces.append(replacement)
            counts[entity] = counts.get(entity, 0) + 1
        pieces.append(text[pos:])
        return "".join(pieces)

    def _hint(self, name: str) -> str | None:
        if not self.policy.scan.field_hints:
            return None
        try:
            return self._hints[name]
        except KeyError:
            entity = entity_for_field_name(name)
            if len(self._hints) < _MAX_HINT_CACHE:
                self._hints[name] = entity
            return entity

    def _cell(self, name: str, value: Any, counts: dict[str, int]) -> Any:
        entity = self._hint(name)
        if entity is not None:
            return self._whole(name, value, entity, self.policy.action_for(entity), counts)
        return self._scan(name, value, self._scanner, counts)

    def _classified(self, name: str, value: Any, counts: dict[str, int], sampled: bool) -> Any:
        classifier = self.classifier
        entity = self._hint(name) or classifier.label(name)  # type: ignore[union-attr]
        if entity is not None:
            return self._whole(name, value, entity, self.policy.action_for(entity), counts)
        scan_unlabelled = self.policy.classify.unlabelled == "scan"
        if not sampled:
            return self._scan(name, value, self._scanner, counts) if scan_unlabelled else value
        text = text_of(name, value)
        if text is NOT_TEXT:
            return value
        matches = self._scanner.scan(text) if text else []  # type: ignore[arg-type]
        classifier.observe(name, [m.entity for m in matches])  # type: ignore[union-attr]
        return self._scan(name, value, self._scanner, counts, matches) if scan_unlabelled else value

