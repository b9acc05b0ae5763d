"""US Social Security numbers: ``123-45-6789``, ``123 45 6789``, ``123.45.6789`` or ``123456789``.

Validated with the SSA's rules: area 000, 666 and 900-999 were never issued,
nor group 00 or serial 0000.  A bare nine-digit number is only an SSN when a
context word ("SSN", "social security") is near.
"""
from __future__ import annotations

import re
from typing import Sequence

from pipelines.pii.detectors.base import Match, confidence, context_near
from pipelines.pii.entities import US_SSN

# The separator is captured and reused so "123-45 6789" is not an SSN.  Dots and
# slashes are rarer ("123.45.6789"); other scripts' dashes, spaces and digits are
# folded to ASCII before detectors run (pipelines.pii.normalize).
# Patterns here start with a plain character class and check what precedes
# the match with a lookbehind *after* the first character: the regex engine
# then skips ahead to candidate characters in C instead of testing the
# lookbehind at every position (3-4x faster on prose).
_CANDIDATE = re.compile(r"(\d(?<![\d-]\d)\d\d)([-. /]?)(\d{2})\2(\d{4})(?![\d]|-\d)")
# "ss#" has no word boundary after the "#": it stands outside the \b group.
_CONTEXT = re.compile(r"(?i)\b(?:(?:ssn|ssa|social\s+security|soc\.?\s*sec|taxpayer|tin)\b|ss#)")
# Numbers the SSA voided after they were printed in advertising.
_VOIDED = frozenset({"078051120", "219099999"})


def valid_ssn(area: str, group: str, serial: str) -> bool:
    if area == "000" or area == "666" or area[0] == "9":
        return False
    if group == "00" or serial == "0000":
        return False
    return area + group + serial not in _VOIDED


class SsnDetector:
    entities = (US_SSN,)
    late = False
    min_digits = 9

    def find(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[Match]:
        out = []
        for m in _CANDIDATE.finditer(text):
            area, sep, group, serial = m.groups()
            if not valid_ssn(area, group, serial):
                continue
            start, end = m.span()
            if sep == " " and (text[end:end + 1] == " " and text[end + 1:end + 2].isdigit()
                               or start >= 2 and text[start - 1] == " " and text[start - 2].isdigit()):
                continue  # three groups of a longer space-grouped number (a phone number, a parcel id)
            if (sep == "." or sep == "/") and (start and text[start - 1] in "./" or text[end:end + 1] in "./"
                                                and text[end + 1:end + 2].isdigit()):
                continue  # a piece of a longer dotted number: a version, an IP-like id
            near = context_near(text, start, end, _CONTEXT)
            # Dashes are how SSNs are written; spaces, dots, slashes less so; bare digits are
            # as likely an order number unless the text says otherwise.
            base = 0.85 if sep == "-" else 0.4 if not sep else 0.6
            out.append(Match(US_SSN, start, end, confidence(base, 0.3, near)))
        return out
