"""Phone numbers, found and checked by ``phonenumbers`` (libphonenumber's Python port).

A cheap regex first picks out runs of digits and phone punctuation (with an
optional extension); only those runs go to ``PhoneNumberMatcher``, which is
pure Python and costs tens of microseconds a call.  The matcher runs with
``Leniency.POSSIBLE``: numbers in real data (and in Faker's) are often not
*assigned* numbers, which ``VALID`` would reject; the structure and context
checks below keep precision up instead.

phonenumbers is most of this detector's cost, so it is called as little as
gives the same answers: a run of plain digit groups is parsed whole with
``parse`` (what the matcher would do first), and a region is skipped when no
piece of the run has a length its numbers can have (``_NationalPlan``).
"""
from __future__ import annotations

import re
from bisect import bisect_right
from typing import Sequence

from phonenumbers import (
    Leniency, NumberParseException, PhoneNumber, PhoneNumberFormat, PhoneNumberMatcher, format_number,
    is_possible_number, parse, region_code_for_country_code,
)
from phonenumbers.phonemetadata import PhoneMetadata

from pipelines.pii.detectors.base import Match, confidence, context_near
from pipelines.pii.entities import PHONE_NUMBER

# A "+", "(" or digit (not glued to a word, an email or another number: the
# lookbehind sits after the first character so the engine can skip ahead in
# C), then digits and phone punctuation, then an optional extension.
_CANDIDATE = re.compile(
    r"[+(\d](?<![\w+@.\-/][+(\d])[\d ().\-/]{5,26}\d"
    r"(?:[ ,]*(?i:ext\.?|extension|ex\.?|x|\#)[ .]*\d{1,7})?(?![\w@]|[.\-/]\w)")
# English, German, French and Spanish (phone, tel, telephone, telefon, téléphone, teléfono, text, tfno,
# portable, call(ed), cell, contact, celular, mobile, mobil, móvil, reach, rückruf, rappeler, anrufen, appeler...).
# Grouped by first letter: case-blind matching cannot skip ahead on a literal, and a flat list of 27 words
# took 60% longer a search.
_CONTEXT = re.compile(
    r"(?i)\b(?:t(?:[eé]l(?:[eé](?:phone|fono|fon))?|ext|fno)|p(?:hone|ortable)|c(?:all(?:ed)?|ell|ontact|elular)"
    r"|m(?:obile?|[oó]vil)|fax|r(?:each|[uü]ckruf|appeler)|sms|whatsapp|handy|a(?:nrufen|ppeler)|llamar)\b")
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
        self._plans = {region: _NationalPlan(region) for region in self.regions}

    def find(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[Match]:
        out = []
        pos = 0
        # A few claimed spans are walked; many (a long note full of PII) are merged once and bisected.
        claimed, claimed_ends = (skip, None) if len(skip) <= _FEW_CLAIMED else _sorted_claims(skip)
        while (m := _CANDIDATE.search(text, pos)) is not None:
            start, end = m.span()
            pos = end
            # ". " ends a sentence, never a number: "dated 05/27/2025. 213.222.8171"
            # holds two runs, so cut at the stop and search again after it.
            stop = _STOP.search(text, start, end)
            if stop is not None:
                end, pos = stop.start(), stop.end()
            pieces = _unclaimed(start, end, claimed, claimed_ends)
            if stop is None and pieces == [(start, end)]:
                # Searching the match's own span finds just the match again
                # (its last character is a digit, so no shorter reading ends
                # where the cut at its end could change the lookahead).
                self._candidate(text, m, out)
                continue
            for piece_start, piece_end in pieces:
                for candidate in _CANDIDATE.finditer(text, piece_start, piece_end):
                    self._candidate(text, candidate, out)
        return out

    def _possible(self, digits: str) -> bool:
        """True if some configured region has a national number of this many digits (see __init__)."""
        n = len(digits)
        if n in self._lengths_first:
            return True
        for prefix, lengths in self._lengths_prefixed:
            if n in lengths and digits.startswith(prefix):
                return True
        return False

    def _candidate(self, text: str, m: re.Match[str], out: list[Match]) -> None:
        """Check one candidate run and add the phone numbers in it to ``out``."""
        group = m.group()
        raw = group.lstrip(" .-")
        offset = m.start() + (len(group) - len(raw))
        plus = raw[0] == "+"
        # A bare run of digits is more often an order number or an id than
        # a phone number: only a context word makes it a candidate.  This
        # also spares the (slow) matcher most non-phone digit runs.  The
        # context is looked up only when needed: for a bare run here, for
        # a structured one once the matcher has found a number in it.
        near = None
        if not plus and _GROUPED.search(raw) is None:
            near = context_near(text, offset, m.end(), _CONTEXT, window=30)
            if not near:
                return
        if _DATE_LIKE.fullmatch(raw):
            return
        # Every extension word has an "x" (or is "#"): without one, the run is all main part.
        if "x" in raw or "X" in raw or "#" in raw:
            digits = _NOT_DIGITS.sub("", _EXTENSION.split(raw, 1)[0])
        else:
            digits = _NOT_DIGITS.sub("", raw)
        idd = None if plus else _IDD.match(raw)
        if not 7 <= len(digits) <= 15 + 3:  # E.164: at most 15 digits, plus a dialling prefix
            if len(digits) < 7 or _SPLITS.search(raw) is None:
                return
        elif not plus and idd is None and not self._possible(digits) and _SPLITS.search(raw) is None:
            # No configured region has a national number this long ("978-3-16-148410-0",
            # "4111-1111-1111-1111"), and no space or slash could part two numbers
            # written side by side ("415-555-0132 / 415-555-0133"): the matcher would find none.
            return
        # phonenumbers reads "+" but not the international dialling prefix
        # (00, 011) when the default region is one with another prefix.
        shift = 0
        if idd:
            shift = idd.end() - 1
            raw = "+" + raw[idd.end():]
        if "/" in raw and " " not in raw:
            # Slashes as the only separator ("089/1234567", "+33/6/12/54/63/21"): the matcher reads
            # a slash as parting two numbers; a space (same offsets) reads as a group.
            raw = raw.replace("/", " ")
        found = self._match(raw, digits)
        if not found:
            return
        if near is None:
            near = context_near(text, offset, m.end(), _CONTEXT, window=30)
        for start, end in found:
            s = offset + (start + shift if start > 0 else 0)
            e = offset + end + shift
            grouped = raw[0] == "+" or _GROUPED.search(raw, start, end) is not None
            out.append(Match(PHONE_NUMBER, s, e, confidence(0.8 if grouped else 0.4, 0.3, near)))

    def _match(self, raw: str, digits: str) -> list[tuple[int, int]]:
        """Spans of ``raw`` holding phone numbers; ``digits`` are those of raw's main part (no extension)."""
        # An international number parses the same whatever the default region.
        # (No is_valid_number bonus: for NANP numbers it walks 25 regions and
        # costs more than the match itself.)
        plus = raw[0] == "+"
        regions = self.regions[:1] if plus else self.regions
        plain = _PLAIN_NUMBER.fullmatch(raw) is not None
        pieces: list[str] | None = None  # digits of the pieces the matcher would try, once listed
        listed = False
        for region in regions:
            prefix = self._prefixes.get(region)
            if prefix is not None and (not prefix or not raw.lstrip("(").startswith(prefix)):
                continue
            plan = self._plans[region]
            if plain:
                # Digits and single spaces, dots or dashes: the matcher reads
                # the run as one candidate and parses it whole first; if that
                # is a possible number, it returns just that.  Parsing it here
                # gives the same answer without the matcher's own search.
                number = None
                if plus or plan.possible(digits):  # else parse cannot make a possible number of it
                    try:
                        number = parse(raw, region)
                    except NumberParseException:
                        pass
                if number is not None and is_possible_number(number):
                    if _grouped_as_formatted(raw, number):
                        return [(0, len(raw))]
                    continue
                # Not a number whole: the matcher would go on to its pieces
                # (between the spaces and dots); skip it if none can be one.
                if not plus:
                    if not listed:
                        pieces, listed = _pieces(raw, whole=False), True
                    if pieces is not None and not plan.any_possible(pieces):
                        continue
            elif not plus and not plan.possible(digits):
                # The whole run first (it passes for every phone number written
                # in this region's format), then each piece the matcher may try.
                if not listed:
                    pieces, listed = _pieces(raw), True
                if pieces is not None and not plan.any_possible(pieces):
                    continue  # no part of the run has a length parse() accepts in this region
            found = [(pm.start, pm.end)
                     for pm in PhoneNumberMatcher(raw, region, leniency=Leniency.POSSIBLE)
                     if _grouped_as_formatted(pm.raw_string, pm.number)]
            if found:
                return found
        return []


class _NationalPlan:
    """The lengths ``parse(run, region)`` can end up with, for ruling out runs before the matcher reads them.

    The matcher (with ``Leniency.POSSIBLE``) accepts a number only if the
    national number ``parse`` leaves has one of the region's possible lengths
    (``is_possible_number`` checks nothing else).  ``parse`` gets there by
    stripping, from the run's digits, at most a country code and national
    prefixes, using the region's own metadata.  So if no such stripping of any
    piece the matcher tries gives a possible length, it finds nothing, and
    costs 50-150 us saying so (it parses every piece): card-like runs
    ("6064 7800 8423 3217") and numbers of another region ("020 7946 0958" read
    as a US number).  Runs written with an international dialling prefix, or in
    regions whose prefix rules rewrite digits, are always left to the matcher.
    """

    def __init__(self, region: str) -> None:
        metadata = PhoneMetadata.metadata_for_region(region)
        main = PhoneMetadata.metadata_for_region(region_code_for_country_code(metadata.country_code)) or metadata
        self.lengths = _possible_lengths(metadata) | _possible_lengths(main)
        self.country_code = str(metadata.country_code)
        self.idd = re.compile(metadata.international_prefix) if metadata.international_prefix else None
        npfp = metadata.national_prefix_for_parsing
        self.national_prefix = re.compile(npfp) if npfp else None
        self.checkable = bool(self.lengths) and not metadata.national_prefix_transform_rule

    def any_possible(self, pieces: list[str]) -> bool:
        return any(self.possible(digits) for digits in pieces)

    def possible(self, digits: str) -> bool:
        """False only if ``parse`` cannot make a possible number of these digits in this region."""
        if not self.checkable or (self.idd is not None and self.idd.match(digits) is not None):
            return True
        lengths, prefix = self.lengths, self.national_prefix
        bases = [digits]
        if digits.startswith(self.country_code):
            bases.append(digits[len(self.country_code):])
        for number in bases:
            for _ in range(3):  # parse strips a national prefix at most twice
                if len(number) in lengths:
                    return True
                m = prefix.match(number) if prefix is not None else None
                if m is None or m.end() == 0:
                    break
                number = number[m.end():]
        return False


# A run PhoneNumberMatcher reads as one candidate, parsed whole before anything
# else: an optional "+", then digit groups with one space, dot or dash between.
_PLAIN_NUMBER = re.compile(r"\+?\d+(?:[ .\-]\d+)*")
# A run the matcher reads in predictable pieces: digit groups with one space,
# dot or dash between them, and an optional extension.  (Brackets, slashes and
# spaced dashes make it try other pieces: those runs always go to it.)
_PLAIN_RUN = re.compile(r"\d+(?:[ .\-]\d+)*(?:[ ,]*(?i:ext\.?|extension|ex\.?|x|\#)[ .]*\d{1,7})?")
_LETTERS = re.compile(r"[A-Za-z]")


def _pieces(raw: str, whole: bool = True) -> list[str] | None:
    """The digits of every piece of ``raw`` that ``PhoneNumberMatcher`` may parse, or None if unsure.

    The matcher parses the whole candidate, then (its "inner matches") the
    parts before and after each full stop and each space; the extension, if
    it is not read as one, becomes digits too (three letters or more make
    parse read letters as keypad digits), so both readings are listed.
    ``whole=False`` leaves out the whole run (already parsed).
    """
    if _PLAIN_RUN.fullmatch(raw) is None:
        return None
    main = _EXTENSION.split(raw, 1)[0]
    parts = {*raw.split(" "), *raw.split("."), *main.split(" "), *main.split(".")}
    if whole:
        parts.update((raw, main))
    else:
        parts.discard(raw)
        parts.discard(main)
    has_letters = len(main) != len(raw)  # an extension was split off: its word may be read as digits
    out = []
    for part in parts:
        if part.isascii() and part.isdigit():
            out.append(part)
            continue
        digits = _NOT_DIGITS.sub("", part)
        if digits:
            out.append(digits)
            if has_letters:
                letters = len(_LETTERS.findall(part))
                if letters >= 3:
                    out.append(digits + "0" * letters)
    return out


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
    if number.extension or number.raw_input is not None:
        # format_number would print these: format the bare number.
        number = PhoneNumber(country_code=number.country_code, national_number=number.national_number,
                             italian_leading_zero=number.italian_leading_zero,
                             number_of_leading_zeros=number.number_of_leading_zeros)
    style = PhoneNumberFormat.INTERNATIONAL if main.lstrip("( ").startswith("+") else PhoneNumberFormat.NATIONAL
    formatted = _DIGITS.findall(format_number(number, style))
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


_FEW_CLAIMED = 16


def _sorted_claims(spans: Sequence[tuple[int, int]]) -> tuple[list[tuple[int, int]], list[int]]:
    """``spans`` sorted, overlapping ones joined, and their ends: each candidate then bisects to its neighbours."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged, [end for _, end in merged]


def _unclaimed(start: int, end: int, claimed: Sequence[tuple[int, int]],
               claimed_ends: list[int] | None) -> list[tuple[int, int]]:
    """The parts of [start, end) outside every claimed span, long enough to hold a phone number.

    With ``claimed_ends`` the spans are sorted and disjoint (``_sorted_claims``), and only those from the
    first that may overlap are looked at: walking them all for every candidate made a note full of PII
    quadratic (16 s for 1 MiB).
    """
    pieces = [(start, end)]
    first = 0 if claimed_ends is None else bisect_right(claimed_ends, start)
    for i in range(first, len(claimed)):
        c_start, c_end = claimed[i]
        if c_start >= end and claimed_ends is not None:
            break
        if c_end <= start or c_start >= end:
            continue
        pieces = [part for s, e in pieces
                  for part in ((s, min(e, c_start)), (max(s, c_end), e)) if part[1] - part[0] >= 7]
    return pieces
