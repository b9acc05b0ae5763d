"""Scanning free text: run the detectors, keep the confident matches, resolve overlaps."""
from __future__ import annotations

import re
from operator import attrgetter
from typing import TYPE_CHECKING, Collection, Sequence

from pipelines.pii.detectors import Detector, EntityRecognizer, Match, default_detectors
from pipelines.pii.normalize import folded

if TYPE_CHECKING:
    from pipelines.pii.policy import ScanSettings

_NOT_DIGITS = re.compile(r"\D+")
_START = attrgetter("start")


def resolve_overlaps(matches: list[Match]) -> list[Match]:
    """Keep the highest-confidence match, then the longest, wherever spans overlap; sorted by start."""
    if len(matches) < 2:
        return matches
    # Usually nothing overlaps: then every match is kept, in order of start.
    by_start = sorted(matches, key=_START)
    last_start, last_end = by_start[0].start, by_start[0].end
    for m in by_start[1:]:
        if m.start < last_end or m.start == last_start:
            break
        last_start, last_end = m.start, m.end
    else:
        return by_start
    ranked = sorted(matches, key=lambda m: (-m.confidence, -m.length, m.start))
    kept: list[Match] = []
    for m in ranked:
        if all(m.end <= k.start or m.start >= k.end for k in kept):
            kept.append(m)
    kept.sort(key=lambda m: m.start)
    return kept


class Scanner:
    """Finds PII in text.

    ``entities`` limits the types reported (None: every type the detectors
    know); matches under ``min_confidence`` are dropped before overlaps are
    resolved, so a weak guess never hides a strong one.
    """

    def __init__(self, detectors: Sequence[Detector] | None = None, *,
                 entities: Collection[str] | None = None, min_confidence: float = 0.5,
                 recognizer: EntityRecognizer | None = None) -> None:
        chosen = list(detectors) if detectors is not None else default_detectors()
        if entities is not None:
            wanted = frozenset(entities)
            chosen = [d for d in chosen if wanted.intersection(d.entities)]
        self.entities = frozenset(entities) if entities is not None else None
        self.min_confidence = min_confidence
        self.recognizer = recognizer
        # Detectors needing no digits run on every text; the rest only when
        # the text has enough digits (counted once, in C).  Late ones run last
        # and skip the spans the others already claimed.
        early = [d for d in chosen if not getattr(d, "late", False)]
        self._always = [d for d in early if d.min_digits <= 0]
        self._digit_gated = sorted((d for d in early if d.min_digits > 0), key=lambda d: d.min_digits)
        self._late = [d for d in chosen if getattr(d, "late", False)]

    @classmethod
    def from_settings(cls, settings: ScanSettings, recognizer: EntityRecognizer | None = None) -> Scanner:
        """The scanner a policy's ``scan`` settings describe: every built-in detector, configured by them."""
        return cls(default_detectors(settings.phone_regions), entities=settings.entities,
                   min_confidence=settings.min_confidence, recognizer=recognizer)

    def scan(self, text: str) -> list[Match]:
        """The confident matches in ``text``, without overlaps, in order; spans are ``text``'s own."""
        # Detectors read a folded view of a non-ASCII text (pipelines.pii.normalize), made once per text;
        # their spans map back to the original characters.  (One function, not two: the call would cost
        # a tenth of a microsecond on every field.)
        view = None if text.isascii() else folded(text)
        seen = text if view is None else view.text
        found: list[Match] = []
        for detector in self._always:
            found.extend(detector.find(seen))
        count = -1
        if self._digit_gated:
            count = _digits(seen)
            for detector in self._digit_gated:
                if count < detector.min_digits:
                    break
                found.extend(detector.find(seen))
        entities, floor = self.entities, self.min_confidence
        if self._late:
            if count < 0:
                count = _digits(seen)
            claimed = [(m.start, m.end) for m in found if m.confidence >= floor]
            for detector in self._late:
                if count >= detector.min_digits:
                    found.extend(detector.find(seen, claimed))
        if view is not None and view.origins is not None:
            found = [Match(m.entity, *view.span(m.start, m.end), m.confidence) for m in found]
        if self.recognizer is not None:
            found.extend(self.recognizer.recognize(text))
        kept = [m for m in found
                if m.confidence >= floor and (entities is None or m.entity in entities)]
        return resolve_overlaps(kept)


_ASCII_DIGITS = b"0123456789"


def _digits(text: str) -> int:
    """How many digits ``text`` holds: every Unicode decimal digit, as the regex class counts them."""
    if text.isascii():  # deleting the digits from its bytes is a single C pass, a fifth of a regex sub
        raw = text.encode("ascii")
        return len(raw) - len(raw.translate(None, _ASCII_DIGITS))
    return len(_NOT_DIGITS.sub("", text))
