"""Payment card numbers (PANs): 12 to 19 digits, optionally grouped by spaces or dashes.

Validated by the Luhn check and the issuer ranges (IIN) of the major brands.  A
Luhn-valid number outside every known range is reported with low confidence
unless a context word ("card", "visa", ...) comes right before it, in the same
sentence.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Sequence

from pipelines.pii.detectors.base import Match, confidence, context_before, context_near
from pipelines.pii.entities import CREDIT_CARD

# A maximal run of 12+ digits, each optionally preceded by one space or dash
# (lookbehind after the first digit: see ssn.py; other scripts' digits, spaces
# and dashes are folded to these first, see pipelines.pii.normalize).  Maximal, so a longer number
# (a 22-digit parcel id) is judged whole, not as a card-sized piece of it; a
# "+" before it makes it an international phone number; letters glued to it
# make it part of an alphanumeric id ("1Z999AA10123456784"); a group followed
# by "/" and a digit is a date ("... 1111 09/27"), not part of the number.
# Dots and slashes also part IPs, versions and dates: a card written with them is taken only
# in the groups cards print ("4111.1111.1111.1111", "3782/822463/10005"), one kind throughout.
# Both forms in one pattern: a second pass over the text would cost more than the card check.
_CANDIDATE = re.compile(r"\d(?<![\w+-]\d)(?:(?:[ -]?\d){11,}(?!\w|[-/]\d)"
                        r"|(?<![./]\d)\d{3}([./])(?:\d{6}\1\d{4,5}|\d{4}(?:\1\d{4}){1,2}(?:\1\d{1,5})?|\d{3}(?:\1\d{3}){2})"
                        r"(?!\w|[./-]\d))")
_CONTEXT = re.compile(
    r"(?i)\b(?:card|credit|debit|cc|pan|visa|master\s*card|amex|american\s+express|discover|"
    r"jcb|diners|maestro|unionpay|rupay|mir)\b")

# (prefix low, prefix high, allowed lengths).  Prefixes compare as integers of
# the same number of digits.  Sources: the brands' published IIN ranges.
_BRANDS: tuple[tuple[int, int, frozenset[int]], ...] = tuple(
    (lo, hi, frozenset(lengths)) for lo, hi, lengths in (
        (4, 4, (13, 16, 19)),                       # Visa
        (51, 55, (16,)), (2221, 2720, (16,)),       # Mastercard
        (34, 34, (15,)), (37, 37, (15,)),           # American Express
        (6011, 6011, range(16, 20)), (644, 649, range(16, 20)), (65, 65, range(16, 20)),  # Discover
        (622126, 622925, range(16, 20)),            # Discover / UnionPay co-brand
        (3528, 3589, range(16, 20)), (2131, 2131, (15,)), (1800, 1800, (15,)),  # JCB (and its legacy 15-digit ranges)
        (300, 305, range(14, 20)), (36, 36, range(14, 20)), (38, 39, range(14, 20)),  # Diners Club
        (62, 62, range(16, 20)), (81, 81, range(16, 20)),  # UnionPay
        (50, 50, range(12, 20)), (56, 69, range(12, 20)),  # Maestro
        (6304, 6304, range(12, 20)), (6759, 6759, range(12, 20)), (676770, 676774, range(12, 20)),
        (2200, 2204, range(16, 20)),                # Mir
        (60, 60, range(16, 20)), (508, 508, range(16, 20)), (82, 82, range(16, 20)),  # RuPay
        (1, 1, (15,)),                              # UATP
        (5019, 5019, (16,)), (4571, 4571, (16,)),   # Dankort
        (506099, 506198, range(16, 20)), (650002, 650027, range(16, 20)),  # Verve
    ))


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check over a string of decimal digits, in any script (what ``\\d`` matches)."""
    # Hand-written rather than stdnum.luhn: this runs on every candidate.  The
    # digits in odd places from the right count as they are, the others
    # doubled (digit sum: translated through _DOUBLED_DIGIT); summing the
    # bytes of both does it in two C calls instead of a loop per digit.
    if digits.isascii():
        kept = digits[-1::-2].encode()
        doubled = digits[-2::-2].translate(_DOUBLED_DIGIT).encode()
        return (sum(kept) + sum(doubled) - 48 * len(digits)) % 10 == 0
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = unicodedata.decimal(ch)  # full-width and other scripts' digits: their value, not their code point
        total += _DOUBLED[d] if i & 1 else d
    return total % 10 == 0


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
_DOUBLED_DIGIT = str.maketrans("0123456789", "".join(map(str, _DOUBLED)))


# The same table as sets of prefixes per number length: {length: ((width, prefixes), ...)}.
# A few thousand short strings; a lookup per prefix width instead of a loop over brands.
_PREFIXES_BY_LENGTH: dict[int, tuple[tuple[int, frozenset[str]], ...]] = {}
for _n in range(1, 20):
    _widths: dict[int, set[str]] = {}
    for _lo, _hi, _lengths in _BRANDS:
        assert len(str(_lo)) == len(str(_hi))
        if _n in _lengths:
            _widths.setdefault(len(str(_lo)), set()).update(str(k) for k in range(_lo, _hi + 1))
    _PREFIXES_BY_LENGTH[_n] = tuple((w, frozenset(p)) for w, p in sorted(_widths.items()))


def card_brand_known(digits: str) -> bool:
    """True if the number's prefix and length fit a known brand."""
    n = len(digits)
    if digits.isascii() and digits.isdigit():
        for width, prefixes in _PREFIXES_BY_LENGTH.get(n, ()):
            if digits[:width] in prefixes:
                return True
        return False
    for lo, hi, lengths in _BRANDS:
        if n in lengths:
            width = len(str(lo))
            if lo <= int(digits[:width]) <= hi:
                return True
    return False


class CardDetector:
    entities = (CREDIT_CARD,)
    late = False
    min_digits = 12

    def find(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[Match]:
        out = []
        for m in _CANDIDATE.finditer(text):
            span = _best_span(m.group())
            if span is None:
                continue
            start, end, known = m.start() + span[0], m.start() + span[1], span[2]
            if known:
                near = context_near(text, start, end, _CONTEXT)
            else:
                # An unknown prefix is as likely an id or an ISBN that passes Luhn
                # by chance (one in ten do): only a cue right before it counts.
                near = context_before(text, start, _CONTEXT, window=25)
            out.append(Match(CREDIT_CARD, start, end, confidence(0.95 if known else 0.4, 0.3, near)))
        return out


def _best_span(raw: str) -> tuple[int, int, bool] | None:
    """The card inside a digit run: the whole run, or the run less a short group at either end.

    A card followed by its CVV ("4111 1111 1111 1111 123") or preceded by a
    quantity arrives as one run.  Only a group shorter than its neighbour is
    dropped (a group the same size continues the number's own grouping), and
    what remains must be of a known brand.
    """
    if raw.isdigit():
        return (0, len(raw), card_brand_known(raw)) if len(raw) <= 19 and luhn_valid(raw) else None
    groups = [g.span() for g in _GROUP.finditer(raw)]
    n = len(groups)
    options = [(0, n)]
    first, second = groups[0][1] - groups[0][0], groups[1][1] - groups[1][0]
    last, before_last = groups[-1][1] - groups[-1][0], groups[-2][1] - groups[-2][0]
    if last < before_last:
        options.append((0, n - 1))
    if first < second:
        options.append((1, n))
    if len(options) == 3 and n > 3:
        options.append((1, n - 1))
    best: tuple[int, int, bool] | None = None
    for i, j in options:
        start, end = groups[i][0], groups[j - 1][1]
        sub = raw[start:end]
        if not _plausible_grouping(sub, groups[i:j]):
            continue
        digits = sub.replace(" ", "").replace("-", "")  # two C calls: cheaper than a translate table
        if not digits.isdigit():
            digits = digits.replace(".", "").replace("/", "")
        if not 12 <= len(digits) <= 19 or not luhn_valid(digits):
            continue
        known = card_brand_known(digits)
        if (i, j) != (0, n) and not known:
            continue
        if best is None or (known, end - start) > (best[2], best[1] - best[0]):
            best = (start, end, known)
    return best


def _plausible_grouping(raw: str, groups: list[tuple[int, int]]) -> bool:
    """One kind of separator, and groups as cards print them: 3+ digits, the last group excepted."""
    if " " in raw and "-" in raw:  # dots and slashes come only alone (see _CANDIDATE)
        return False
    for start, end in groups[:-1]:
        if end - start < 3:
            return False
    return True



_GROUP = re.compile(r"\d+")
