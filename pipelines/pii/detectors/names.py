"""Person names in free text, from context: "my name is Jane Doe", "Mr. Smith", "cardholder: J. Doe".

The cues are English, German, French and Spanish ("Mein Name ist", "nom du
client :", "me llamo"); the name after one may be in any script ("Name: Иван
Петров", "Nombre: 山田太郎").

Names have no shape to validate, so this is the weakest detector: it needs a
cue before the name.  Plug a statistical model in through
``EntityRecognizer`` for names without cues.  Columns named ``first_name``,
``last_name``, ... are masked by field name instead.
"""
from __future__ import annotations

import re
from typing import Sequence

from pipelines.pii.detectors.base import Match, colon_cues
from pipelines.pii.entities import PERSON_NAME

# One to three words of letters in any script (initials, hyphens and apostrophes too).  Words
# that start in lower case are cut off in _add: a regex cannot tell upper case outside ASCII,
# and names in scripts without case (CJK, Arabic) must pass.
_WORD = r"[^\W\d_](?:[^\W\d_]|['\u2019\-])*\.?"
_NAME = rf"(?P<name>{_WORD}(?:[ \t]+{_WORD}){{0,2}})"
_WORDS = re.compile(r"\S+")
# No leading \b: the engine then skips to an 'M', 'D' or 'P' in C; the word
# boundary before the title is checked in Python.
_TITLED = re.compile(r"(?:Mrs|Mr|Ms|Miss|Mx|Dr|Prof)\.?[ \t]+" + _NAME)
# Cue phrases in English, German, French and Spanish, searched in the lower-cased text (faster
# than IGNORECASE).  Longer phrases first: "name des kunden:" before "name:".
_CUE = re.compile(r"my\s+name\s+is|name\s+des\s+kunden\s*:|name\s*(?:ist|is|:)|named|called|signed|regards,?"
                  r"|cardholder\s*:?|customer\s*:|contact\s*:|sincerely,?|kund(?:e|in)\s*:|je\s+m['\u2019]appelle"
                  r"|nom(?:\s+du\s+client)?\s*:|client(?:e)?\s*:|me\s+llamo|mi\s+nombre\s+es|nombre\s*:")
# Substrings of the cues: a text with none of them skips the regex (each check is one C search,
# about 0.1 us).  Cues that always end in a colon are looked for from the colons (base.colon_cues).
_CUE_WORDS = ("name", "called", "signed", "regards", "cardholder", "sincerely", "appelle", "llamo", "nombre")
_COLON_CUE_WORDS = ("customer", "contact", "kunde", "kundin", "client", "cliente", "nom", "nom du client")
_NAME_AFTER_WORD = re.compile(r"\s+" + _NAME)
_NAME_AFTER_COLON = re.compile(r"\s*" + _NAME)
# Capitalised words that follow the cues without being names.
_NOT_NAMES = frozenset(
    "The A An This That It I We You He She They Customer Card Account Order Support Team Thanks Thank "
    "Please Today Yesterday Tomorrow Monday Tuesday Wednesday Thursday Friday Saturday Sunday "
    "Der Die Das Ein Eine Er Sie Wir Ich Kunde Danke Bitte Le La Les Un Une Il Elle Nous Vous Merci "
    "El Los Las Una Ella Nosotros Usted Gracias".split())


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
            if ":" not in low or not colon_cues(low, _COLON_CUE_WORDS):
                return out
        if len(low) != len(text):  # lower() changed some lengths: offsets would not line up
            return out
        for cue in _CUE.finditer(low):
            if cue.start() > 0 and low[cue.start() - 1].isalnum():
                continue
            after = _NAME_AFTER_COLON if low[cue.end() - 1] == ":" else _NAME_AFTER_WORD
            m = after.match(text, cue.end())
            if m is not None:
                self._add(text, m, 0.7, out)
        return out

    @staticmethod
    def _add(text: str, m: re.Match[str], score: float, out: list[Match]) -> None:
        start, end = m.span("name")
        words = list(_WORDS.finditer(text, start, end))
        if words[0].group().rstrip(".") in _NOT_NAMES:
            return
        for word in words:
            if word.group()[0].islower():  # the name ends before the first word in lower case...
                if word.start() == start:
                    return
                end = word.start()
                break
            if word.group().endswith(".") and len(word.group()) > 3:  # ...or at a full stop after a word
                end = word.end()                                      # (not an initial: "J.", "St.")
                break
        end = start + len(text[start:end].rstrip())
        while text[end - 1] == ".":  # a sentence's full stop, not part of the name
            end -= 1
        if end > start:
            out.append(Match(PERSON_NAME, start, end, score))
