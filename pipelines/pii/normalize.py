"""One folded view of a field's text for the detectors, and the way back to the original's offsets.

Real text writes the same value many ways: a card in full-width digits
(``４１１１``) or Arabic-Indic ones, grouped by no-break, narrow or thin spaces
or by en dashes, with zero-width characters or soft hyphens between its
digits; an email with a full-width ``＠``.  The detectors are written for
ASCII shapes, so the scanner folds a non-ASCII text once and runs them on the
folded view:

- every decimal digit (what ``re``'s ``\\d`` matches) becomes its ASCII digit;
- space separators (U+00A0, U+2000-U+200A, U+202F, U+205F, U+3000) become ``" "``;
- hyphens and dashes (U+2010-U+2015, U+2212, U+FE58, U+FE63, U+FF0D) become ``"-"``;
- full-width ASCII forms (U+FF01-U+FF5E) become ASCII;
- invisible characters (zero-width space, non-joiner and joiner, word joiner,
  soft hyphen, byte-order mark) are left out.

Not NFKC: it also rewrites what no detector needs (ligatures, circled
numbers, fractions, composed accents) and changes lengths in ways that would
need a full alignment to map back.  This mapping keeps each character or drops
it, so a match in the view maps back to exactly the original span, and the
masker replaces only that: the text around it stays byte-identical.
"""
from __future__ import annotations

import unicodedata
from typing import NamedTuple

INVISIBLE = "\u200b\u200c\u200d\u2060\u00ad\ufeff"
_SPACES = "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"


class _FoldTable(dict):
    """``str.translate``'s table, filled in as characters are met: listing every decimal digit of every
    script up front would take 90 ms at each import (a scan of all of Unicode); a character is looked up
    once, then ``translate`` finds it in C."""

    def __missing__(self, code: int) -> str | None:
        ch = chr(code)
        value = str(unicodedata.decimal(ch)) if ch.isdecimal() else ch
        self[code] = value
        return value


_FOLD = _FoldTable({ord(ch): " " for ch in _SPACES})
_FOLD.update({ord(ch): "-" for ch in _DASHES})
_FOLD.update({code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)})  # full-width "!" to "~"
_FOLD.update({ord(ch): None for ch in INVISIBLE})


def fold(text: str) -> str:
    """``text`` as the detectors read it (see the module doc); ASCII text is returned as it is."""
    if text.isascii():
        return text
    return text.translate(_FOLD)


class FoldedText(NamedTuple):
    """The folded view of a text, and where each of its characters came from (None: one for one)."""

    text: str
    origins: list[int] | None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original text's span for ``view[start:end]`` (a non-empty span)."""
        origins = self.origins
        if origins is None:
            return start, end
        return origins[start], origins[end - 1] + 1


def folded(text: str) -> FoldedText:
    """The view of a non-ASCII ``text``, with the offsets back to it when characters were left out."""
    view = text.translate(_FOLD)
    if len(view) == len(text):  # nothing left out: offsets are the same
        return FoldedText(view, None)
    invisible = frozenset(INVISIBLE)
    return FoldedText(view, [i for i, ch in enumerate(text) if ch not in invisible])
