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

from phonenumbers import Leniency, PhoneNumber, PhoneNumberFormat, PhoneNumberMatcher, format_number
from phonenumbers.phonemetadata import PhoneMetadata

from pipelines.pii.detectors.base import Match, confidence, context_near
from pipelines.pii.entities import PHONE_NUMBER

# A "+", "(" or digit (not glued to a word, an email or another number: the
# lookbehind sits after the first character so the engine can skip ahead in
# C), then digits and phone punctuation, then an optional extension.
_CANDIDATE = re.compile(
    r"[+(\d](?<![\w+@.\-/][+(\d])[\d ().\-/]{5,26}\d"
    r"(?:[ ,]*(?i:ext\.?|extension|ex\.?|x|\#)[ .]*\d{1,7})?(?![\w@]|[.\-/]\w)")
_CONTEXT = re.compile(
    r"(?i)\b(?:phone|tel|telephone|call(?:ed)?|mobile|cell|fax|contact|reach|sms|text|whatsapp)\b")
# Shapes that are written as phone numbers: international, grouped, or with an
# extension.  A bare run of digits is more often an id.
_GROUPED = re.compile(r"[ ().\-/]")
# Dates and year ranges are written like phone numbers; no phone number looks like them.
_DATE_LIKE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
                        r"|(?:19|20)\d\d ?- ?(?:19|20)\d\d")
_SPLITS = re.compile(r"[ /]")
_STOP = re.compile(r"(?<![A-Za-z])\. ")  # not after a letter: "ext. 204" stays whole
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
        # How many digits a national number can have, written with or without
        # its trunk prefix or country code: libphonenumber's possible lengths,
        # the very test Leniency.POSSIBLE applies, but checked before the
        # matcher runs (card-like and ISBN-like runs then never reach it).
        first = PhoneMetadata.metadata_for_region(self.regions[0])
        self._lengths_first = _possible_lengths(first)
        self._lengths_prefixed = [(prefix, frozenset(n + len(prefix) for n in _possible_lengths(
            PhoneMetadata.metadata_for_region(region)))) for region, prefix in
            [(self.regions[0], first.national_prefix or ""), (self.regions[0], str(first.country_code)),
             *self._prefixes.items()] if prefix]

    def find(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[Match]:
        out = []
        pos = 0
        while (m := _CANDIDATE.search(text, pos)) is not None:
            start, end = m.span()
            pos = end
            # ". " ends a sentence, never a number: "dated 05/27/2025. 213.222.8171"
            # holds two runs, so cut at the stop and search again after it.
            stop = _STOP.search(text, start, end)
            if stop is not None:
                end, pos = stop.start(), stop.end()
            for piece_start, piece_end in _unclaimed(start, end, skip):
                out.extend(self._find_in(text, piece_start, piece_end))
        return out

    def _possible(self, digits: str) -> bool:
        """True if some configured region has a national number of this many digits (see __init__)."""
        n = len(digits)
        return n in self._lengths_first or any(digits.startswith(prefix) and n in lengths
                                               for prefix, lengths in self._lengths_prefixed)

    def _find_in(self, text: str, start: int, end: int) -> list[Match]:
        out = []
        for m in _CANDIDATE.finditer(text, start, end):
            raw = m.group().lstrip(" .-")
            offset = m.start() + (len(m.group()) - len(raw))
            # A bare run of digits is more often an order number or an id than
            # a phone number: only a context word makes it a candidate.  This
            # also spares the (slow) matcher most non-phone digit runs.
            structured = raw[0] == "+" or _GROUPED.search(raw) is not None
            near = context_near(text, offset, m.end(), _CONTEXT, window=30)
            if not structured and not near:
                continue
            if _DATE_LIKE.fullmatch(raw):
                continue
            digits = _NOT_DIGITS.sub("", _EXTENSION.split(raw, 1)[0])
            if not 7 <= len(digits) <= 15 + 3:  # E.164: at most 15 digits, plus a dialling prefix
                if len(digits) < 7 or _SPLITS.search(raw) is None:
                    continue
            elif raw[0] != "+" and _IDD.match(raw) is None and not self._possible(digits) \
                    and _SPLITS.search(raw) is None:
                # No configured region has a national number this long ("978-3-16-148410-0",
                # "4111-1111-1111-1111"), and no space or slash could part two numbers
                # written side by side ("415-555-0132 / 415-555-0133"): the matcher would find none.
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
                     for pm in PhoneNumberMatcher(raw, region, leniency=Leniency.POSSIBLE)
                     if _grouped_as_formatted(pm.raw_string, pm.number)]
            if found:
                return found
        return []


def _possible_lengths(metadata: PhoneMetadata) -> frozenset[int]:
    desc = metadata.general_desc
    return frozenset(desc.possible_length or ()) | frozenset(desc.possible_length_local_only or ())


def _grouped_as_formatted(raw: str, number: PhoneNumber) -> bool:
    """True if the digits are grouped the way the number's own format groups them, or some groups joined.

    libphonenumber's STRICT_GROUPING idea without its VALID check (which
    rejects unassigned numbers): "2019-414491" (an order id), "3-7246-3260-6"
    (an ISBN) or "65761.88" (an amount) read as possible US numbers, but no US
    number is written 4-6, 1-4-4-1 or 5.2.
    """
    main = _EXTENSION.split(raw, 1)[0]
    groups = _DIGITS.findall(main)
    if len(groups) < 2:
        return True
    cuts, pos = [], 0
    for group in groups:
        pos += len(group)
        cuts.append(pos)
    bare = PhoneNumber(country_code=number.country_code, national_number=number.national_number,
                       italian_leading_zero=number.italian_leading_zero,
                       number_of_leading_zeros=number.number_of_leading_zeros)
    style = PhoneNumberFormat.INTERNATIONAL if main.lstrip("( ").startswith("+") else PhoneNumberFormat.NATIONAL
    formatted = _DIGITS.findall(format_number(bare, style))
    if len(formatted) < 2:
        # No format known for it (an impossible area code, say): accept only
        # groups a phone number could have, not "1-77372-187-9" or "17562.12".
        return all(len(group) >= 3 for group in groups[1:])
    raw_digits, formatted_digits = "".join(_DIGITS.findall(main)), "".join(formatted)
    if not raw_digits.endswith(formatted_digits):
        return True  # written with digits the format leaves out ("+44 (0)20 ..."): no evidence either way
    offset = len(raw_digits) - len(formatted_digits)  # a trunk or dialling prefix before the number
    allowed, pos = {offset}, offset
    for group in formatted:
        pos += len(group)
        allowed.add(pos)
    return all(cut <= offset or cut in allowed for cut in cuts)


_DIGITS = re.compile(r"\d+")


def _unclaimed(start: int, end: int, claimed: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of [start, end) outside every claimed span, long enough to hold a phone number."""
    pieces = [(start, end)]
    for c_start, c_end in claimed:
        if c_end <= start or c_start >= end:
            continue
        pieces = [part for s, e in pieces
                  for part in ((s, min(e, c_start)), (max(s, c_end), e)) if part[1] - part[0] >= 7]
    return pieces
