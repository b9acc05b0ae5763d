"""Person names in free text, from context: "my name is Jane Doe", "Mr. Smith", "cardholder: J. Doe".

Names have no shape to validate, so this is the weakest detector: it needs a
cue before the name.  Plug a statistical model in through
``EntityRecognizer`` for names without cues.  Columns named ``first_name``,
``last_name``, ... are masked by field name instead.
"""
from __future__ import annotations

import re
from typing import Sequence

from pipelines.pii.detectors.base import Match
from pipelines.pii.entities import PERSON_NAME

# One to three capitalised words (initials and hyphenated/apostrophe names too).
_NAME = r"(?P<name>[A-Z][a-zA-Z'\-]*\.?(?:[ \t]+[A-Z][a-zA-Z'\-]*\.?){0,2})"
# No leading \b: the engine then skips to an 'M', 'D' or 'P' in C; the word
# boundary before the title is checked in Python.
_TITLED = re.compile(r"(?:Mrs|Mr|Ms|Miss|Mx|Dr|Prof)\.?[ \t]+" + _NAME)
# Cue phrases, searched in the lower-cased text (faster than IGNORECASE).
_CUE = re.compile(r"my\s+name\s+is|name\s*(?:is|:)|named|called|signed|regards,?|cardholder\s*:?"
                  r"|customer\s*:|contact\s*:|sincerely,?")
_CUE_WORDS = ("name", "called", "signed", "regards", "cardholder", "customer:", "contact:", "sincerely")
_NAME_AFTER = re.compile(r"\s+" + _NAME)
# Capitalised words that follow the cues without being names.
_NOT_NAMES = frozenset(
    "The A An This That It I We You He She They Customer Card Account Order Support Team Thanks Thank "
    "Please Today Yesterday Tomorrow Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split())


class PersonNameDetector:
    entities = (PERSON_NAME,)
    late = False
    min_digits = 0

    def find(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[Match]:
        out = []
        for m in _TITLED.finditer(text):
            if m.start() == 0 or not text[m.start() - 1].isalnum():
                self._add(text, m, 0.8, out)
        low = text.lower()
        for word in _CUE_WORDS:  # a plain loop: no generator to set up for the usual no-cue text
            if word in low:
                break
        else:
            return out
        if len(low) != len(text):  # lower() changed some lengths: offsets would not line up
            return out
        for cue in _CUE.finditer(low):
            if cue.start() > 0 and low[cue.start() - 1].isalnum():
                continue
            m = _NAME_AFTER.match(text, cue.end())
            if m is not None:
                self._add(text, m, 0.7, out)
        return out

    @staticmethod
    def _add(text: str, m: re.Match[str], score: float, out: list[Match]) -> None:
        start, end = m.span("name")
        if text[start:end].split(None, 1)[0].rstrip(".") in _NOT_NAMES:
            return
        while text[end - 1] == ".":  # a sentence's full stop, not part of the name
            end -= 1
        out.append(Match(PERSON_NAME, start, end, score))
