"""Payment card numbers (PANs): 12 to 19 digits, optionally grouped by spaces or dashes.

Validated by the Luhn check and the issuer ranges (IIN) of the major brands.  A
Luhn-valid number outside every known range is reported with low confidence
unless a context word ("card", "visa", ...) is near.
"""
from __future__ import annotations

import re
from typing import Sequence

from pipelines.pii.detectors.base import Match, confidence, context_near
from pipelines.pii.entities import CREDIT_CARD

# A digit, then 11-18 more, each optionally preceded by one space or dash.
_CANDIDATE = re.compile(r"\d(?<![\d-]\d)(?:[ -]?\d){11,18}(?![\d]|-\d)")  # lookbehind after the first digit: see ssn.py
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
        (3528, 3589, range(16, 20)),                # JCB
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
    """The Luhn (mod 10) check over a string of ASCII digits."""
    total = 0
    # Hand-written rather than stdnum.luhn: this runs on every candidate and
    # the table lookup is several times faster than the generic version.
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        total += _DOUBLED[d] if i & 1 else d
    return total % 10 == 0


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def card_brand_known(digits: str) -> bool:
    """True if the number's prefix and length fit a known brand."""
    n = len(digits)
    for lo, hi, lengths in _BRANDS:
        if n in lengths:
            width = len(str(lo))
            if lo <= int(digits[:width]) <= hi:
                return True
    return False


def _consistent_grouping(raw: str) -> bool:
    """One kind of separator at most, and never two in a row."""
    return not (" " in raw and "-" in raw)


class CardDetector:
    entities = (CREDIT_CARD,)
    late = False
    min_digits = 12

    def find(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[Match]:
        out = []
        for m in _CANDIDATE.finditer(text):
            raw = m.group()
            if not _consistent_grouping(raw):
                continue
            span = _best_span(raw)
            if span is None:
                continue
            start, end, known = m.start() + span[0], m.start() + span[1], span[2]
            near = context_near(text, start, end, _CONTEXT)
            out.append(Match(CREDIT_CARD, start, end, confidence(0.95 if known else 0.4, 0.3, near)))
        return out


def _best_span(raw: str) -> tuple[int, int, bool] | None:
    """The card inside a digit run: the whole run, or else a run of whole groups.

    The candidate regex is greedy, so "4111 1111 1111 1111 123" (a CVV after
    the number) arrives as one run; trying whole-group sub-runs, longest first,
    recovers the card.
    """
    digits = raw if raw.isdigit() else raw.replace(" ", "").replace("-", "")
    if 12 <= len(digits) <= 19 and luhn_valid(digits):
        return 0, len(raw), card_brand_known(digits)
    if raw.isdigit():
        return None
    groups = [(g.start(), g.end()) for g in _GROUP.finditer(raw)]
    best: tuple[int, int, bool] | None = None
    for i in range(len(groups)):
        for j in range(len(groups) - 1, i - 1, -1):
            if (i, j) == (0, len(groups) - 1):
                continue
            sub = raw[groups[i][0]:groups[j][1]]
            sub_digits = sub.replace(" ", "").replace("-", "")
            if not 12 <= len(sub_digits) <= 19 or not luhn_valid(sub_digits):
                continue
            known = card_brand_known(sub_digits)
            candidate = (groups[i][0], groups[j][1], known)
            if best is None or (known, candidate[1] - candidate[0]) > (best[2], best[1] - best[0]):
                best = candidate
    return best


_GROUP = re.compile(r"\d+")
