"""What a detector is, and what it returns.

A detector finds candidates with a compiled regex (cheap, in C) and keeps only
those a validator accepts (Luhn, SSN area rules, ``ipaddress``, ``phonenumbers``,
IBAN check digits).  Context words near a candidate raise its confidence; the
scanner drops matches under the policy's ``min_confidence``.
"""
from __future__ import annotations

import re
from typing import Iterable, NamedTuple, Protocol, Sequence, runtime_checkable


class Match(NamedTuple):
    """One finding: ``text[start:end]`` looks like ``entity`` with ``confidence`` in [0, 1].

    A named tuple (immutable, compared field by field) rather than a frozen
    dataclass: detectors make a few per text, and a frozen dataclass takes
    twice as long to build.
    """

    entity: str
    start: int
    end: int
    confidence: float

    @property
    def length(self) -> int:
        return self.end - self.start


@runtime_checkable
class Detector(Protocol):
    """Finds one family of entities in text."""

    #: Entity types this detector can return.
    entities: tuple[str, ...]
    #: The scanner skips this detector on texts with fewer digits (a cheap prefilter).
    min_digits: int
    #: Late detectors (the slow ones) run after the others and get the spans they claimed.
    late: bool

    def find(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[Match]:
        """All candidates that pass validation, overlapping ones included.

        ``skip`` lists spans other detectors already claimed with enough
        confidence; a detector may leave candidates inside them unvalidated.
        """


@runtime_checkable
class EntityRecognizer(Protocol):
    """Hook for a statistical model (e.g. a spaCy or transformers NER pipeline).

    No model can be downloaded where shardline is built, so none ships; pass an
    object with this method to ``Scanner(recognizer=...)`` and its matches are
    resolved together with the detectors'.
    """

    def recognize(self, text: str) -> Iterable[Match]:
        """Matches for the entity types the model knows (use the names in ``entities``)."""


# Where a sentence ends: a cue word in another sentence is not about this value
# ("Order 123456789 shipped. SSN 123-45-6789 ..." must not lend "SSN" to the
# order number).  A letter that is not a lower-case ASCII one must follow (a
# capital, or another script's), so abbreviations ("Tel. +44 ...", "soc. sec. no.
# 123...") do not end the sentence; a CJK full stop always ends one.
# (One character class first, so the engine skips ahead in C: a top-level "|" made it twice as slow.)
_SENTENCE_END = re.compile(r"[.!?;\u3002](?:(?<=\u3002)|\s+(?=[^\W\d_a-z]))")


def context_before(text: str, start: int, words: re.Pattern[str], window: int = 40) -> bool:
    """True if one of ``words`` occurs in the ``window`` characters before ``start``, in the same sentence."""
    lo = max(0, start - window)
    # Cue words are rare: with none in the whole window there is none in its
    # last sentence either (a match does not depend on where the search starts).
    if words.search(text, lo, start) is None:
        return False
    for end in _SENTENCE_END.finditer(text, lo, start):
        lo = end.end()
    return words.search(text, lo, start) is not None


def context_near(text: str, start: int, end: int, words: re.Pattern[str], window: int = 40) -> bool:
    """True if one of ``words`` occurs within ``window`` characters either side of a span, in the same sentence."""
    if context_before(text, start, words, window):
        return True
    hi = min(len(text), end + window)
    stop = _SENTENCE_END.search(text, end, hi)
    return words.search(text, end, stop.start() + 1 if stop else hi) is not None


def confidence(base: float, boost: float, has_context: bool) -> float:
    return min(1.0, base + boost) if has_context else base


def colon_cues(low: str, words: tuple[str, ...]) -> list[tuple[int, int]]:
    """(where the word starts, where the colon ends) for each ":" right after one of ``words`` ("Adresse :",
    "nom du client:") in lower-cased text.  Colons are rare: looking back from each (one C call) is
    cheaper than searching the text for every word (about 0.1 us a word)."""
    out = []
    colon = low.find(":")
    while colon >= 0:
        end = colon
        while end and low[end - 1] == " ":
            end -= 1
        if low.endswith(words, 0, end):
            for word in words:
                if low.endswith(word, 0, end):
                    start = end - len(word)
                    if start == 0 or not low[start - 1].isalnum():
                        out.append((start, colon + 1))
                    break
        colon = low.find(":", colon + 1)
    return out
