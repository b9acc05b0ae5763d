"""Phone numbers, found and checked by ``phonenumbers`` (libphonenumber's Python port).

A cheap regex first picks out runs of digits and phone punctuation (with an
optional extension); only those runs go to ``PhoneNumberMatcher``, which is
pure Python and costs tens of microseconds a call.  The matcher runs with
``Leniency.POSSIBLE``: numbers in real data (and in Faker's) are often not
*assigned* numbers, which ``VALID`` would reject; the structure and context
checks below keep precision up instead.
"""
from __future__ import annotations

import re
from typing import Sequence

from phonenumbers import Leniency, PhoneNumberMatcher
from phonenumbers.phonemetadata import PhoneMetadata

from pipelines.pii.detectors.base import Match, confidence, context_before
from pipelines.pii.entities import PHONE_NUMBER

# A "+", "(" or digit (not glued to a word, an email or another number: the
# lookbehind sits after the first character so the engine can skip ahead in
# C), then digits and phone punctuation, then an optional extension.
_CANDIDATE = re.compile(
    r"[+(\d](?<![\w+@.\-/][+(\d])[\d ().\-/]{5,26}\d"
    r"(?:[ ,]*(?i:ext\.?|extension|ex\.?|x|\#)[ .]*\d{1,7})?(?![\w@]|[.\-/]\d)")
_CONTEXT = re.compile(
    r"(?i)\b(?:phone|tel|telephone|call(?:ed)?|mobile|cell|fax|contact|reach|sms|text|whatsapp|number)\b")
# Shapes that are written as phone numbers: international, grouped, or with an
# extension.  A bare run of digits is more often an id.
_GROUPED = re.compile(r"[ ().\-/]")
# Dates and year ranges are written like phone numbers; no phone number looks like them.
_DATE_LIKE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
                        r"|(?:19|20)\d\d ?- ?(?:19|20)\d\d")
_IDD = re.compile(r"^(?:00|011)(?=[1-9])")
_NOT_DIGITS = re.compile(r"\D+")
_EXTENSION = re.compile(r"(?i)\s*,?\s*(?:ext|extension|ex|x|#)")


class PhoneDetector:
    entities = (PHONE_NUMBER,)
    late = True
    min_digits = 7

    def __init__(self, regions: Sequence[str] = ("US",)) -> None:
        self.regions = tuple(r.upper() for r in regions)
        # Numbers are read in the first region's national format; in the
        # others only when written with that region's trunk prefix (the "0"
        # of "020 7946 0958"), or any 8-digit id would pass as a phone
        # number somewhere.
        self._prefixes = {region: getattr(PhoneMetadata.metadata_for_region(region), "national_prefix", None) or ""
                          for region in self.regions[1:]}

    def find(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[Match]:
        out = []
        for m in _CANDIDATE.finditer(text):
            for piece_start, piece_end in _unclaimed(m.start(), m.end(), skip):
                out.extend(self._find_in(text, piece_start, piece_end))
        return out

    def _find_in(self, text: str, start: int, end: int) -> list[Match]:
        out = []
        for m in _CANDIDATE.finditer(text, start, end):
            raw = m.group().lstrip(" .-")
            offset = m.start() + (len(m.group()) - len(raw))
            # A bare run of digits is more often an order number or an id than
            # a phone number: only a context word makes it a candidate.  This
            # also spares the (slow) matcher most non-phone digit runs.
            structured = raw[0] == "+" or _GROUPED.search(raw) is not None
            near = context_before(text, offset, _CONTEXT, window=30)
            if not structured and not near:
                continue
            if _DATE_LIKE.fullmatch(raw):
                continue
            main_digits = len(_NOT_DIGITS.sub("", _EXTENSION.split(raw, 1)[0]))
            if not 7 <= main_digits <= 15 + 3:  # E.164: at most 15 digits, plus a dialling prefix
                continue
            # phonenumbers reads "+" but not the international dialling prefix
            # (00, 011) when the default region is one with another prefix.
            shift = 0
            idd = _IDD.match(raw)
            if idd:
                shift = idd.end() - 1
                raw = "+" + raw[idd.end():]
            for start, end in self._match(raw):
                s = offset + (start + shift if start > 0 else 0)
                e = offset + end + shift
                grouped = raw[0] == "+" or _GROUPED.search(raw, start, end) is not None
                out.append(Match(PHONE_NUMBER, s, e, confidence(0.8 if grouped else 0.4, 0.3, near)))
        return out

    def _match(self, raw: str) -> list[tuple[int, int]]:
        # An international number parses the same whatever the default region.
        # (No is_valid_number bonus: for NANP numbers it walks 25 regions and
        # costs more than the match itself.)
        regions = self.regions[:1] if raw[0] == "+" else self.regions
        for region in regions:
            prefix = self._prefixes.get(region)
            if prefix is not None and (not prefix or not raw.lstrip("(").startswith(prefix)):
                continue
            found = [(pm.start, pm.end)
                     for pm in PhoneNumberMatcher(raw, region, leniency=Leniency.POSSIBLE)]
            if found:
                return found
        return []


def _unclaimed(start: int, end: int, claimed: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of [start, end) outside every claimed span, long enough to hold a phone number."""
    pieces = [(start, end)]
    for c_start, c_end in claimed:
        if c_end <= start or c_start >= end:
            continue
        pieces = [part for s, e in pieces
                  for part in ((s, min(e, c_start)), (max(s, c_end), e)) if part[1] - part[0] >= 7]
    return pieces
