"""Dates of birth: a real calendar date with a birth context word near it.

A date alone is not personal (every record has a transaction date), so dates
are only reported when a birth cue ("born", "DOB", "date of birth") precedes
them.  Columns named ``dob``/``birth_date`` are caught by field name instead.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Sequence

from pipelines.pii.detectors.base import Match, confidence, context_before
from pipelines.pii.entities import DATE_OF_BIRTH

_MONTHS = {m: i + 1 for i, m in enumerate(
    "jan feb mar apr may jun jul aug sep oct nov dec".split())}
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_CANDIDATE = re.compile(
    r"(?<![\w/.\-])(?:"
    r"(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})"                      # 1985-03-12
    r"|(?P<a>\d{1,2})(?P<sep>[/.\-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4})"     # 03/12/1985, 12.03.1985
    r"|(?P<td>\d{1,2})(?:st|nd|rd|th)?\s+(?P<tm>" + _MONTH + r"),?\s+(?P<ty>\d{4})"   # 12 March 1985
    r"|(?P<um>" + _MONTH + r")\s+(?P<ud>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<uy>\d{4})"   # March 12, 1985
    r")(?![\w/\-]|\.\d)", re.IGNORECASE)
_CONTEXT = re.compile(r"(?i)\b(?:born|birth|birthday|dob|d\.o\.b\.?|date\s+of\s+birth|b-?day)\b")
# Substrings of the lower-cased text: a fast test for any cue at all.
_ANY_CUE = ("born", "birth", "dob", "d.o.b", "bday", "b-day")


def _real_date(year: int, month: int, day: int) -> bool:
    if not 1900 <= year <= 2099:
        return False
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def _parse(m: re.Match[str]) -> bool:
    g = m.groupdict()
    if g["iy"]:
        return _real_date(int(g["iy"]), int(g["im"]), int(g["id"]))
    if g["y"]:
        a, b, y = int(g["a"]), int(g["b"]), int(g["y"])
        return _real_date(y, a, b) or _real_date(y, b, a)  # US or day-first order
    if g["ty"]:
        return _real_date(int(g["ty"]), _MONTHS[g["tm"][:3].lower()], int(g["td"]))
    return _real_date(int(g["uy"]), _MONTHS[g["um"][:3].lower()], int(g["ud"]))


class DateOfBirthDetector:
    entities = (DATE_OF_BIRTH,)
    late = False
    min_digits = 5

    def find(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[Match]:
        # Without a birth cue no date here can reach the default threshold;
        # checking for one first skips the costly date pattern on most texts.
        low = text.lower()
        for cue in _ANY_CUE:
            if cue in low:
                break
        else:
            return []
        out = []
        for m in _CANDIDATE.finditer(text):
            if not _parse(m):
                continue
            near = context_before(text, m.start(), _CONTEXT, window=30)
            out.append(Match(DATE_OF_BIRTH, m.start(), m.end(), confidence(0.3, 0.55, near)))
        return out
