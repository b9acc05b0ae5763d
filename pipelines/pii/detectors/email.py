"""Email addresses: RFC 5322 dot-atom or quoted local parts, DNS domains with a TLD, internationalized too.

RFC 6531 addresses are matched as written: local parts in any script
(``josé.garcía@``, ``иван@``, ``山田@``), domains in Unicode (``müller.de``,
``пример.рф``) or punycode (``xn--mller-kva.de``).  Full-width ``＠`` and ``．``
are folded to ASCII before detectors run (``pipelines.pii.normalize``).  IP-literal
domains stay out: they do not occur in payment data, and a tight pattern keeps
precision up.
"""
from __future__ import annotations

import re
from typing import Sequence

from pipelines.pii.detectors.base import Match
from pipelines.pii.entities import EMAIL

# \w is Unicode here: letters and digits of every script, as RFC 6531 allows.
_ATOM = r"[\w!#$%&'*+/=?^`{|}~\-]+"
_QUOTED = r'"(?:[^"\\\r\n]|\\.){1,62}"'
_LABEL = r"[^\W_](?:[\w\-]{0,61}[^\W_])?"
# An ASCII TLD may be followed by another script's letters (CJK and Thai run words together:
# "山田@例え.jpです"); a TLD in another script, or punycode, ends at any letter.
_TLD = r"(?:[A-Za-z]{2,24}(?![A-Za-z0-9_\-])|xn--[a-z0-9\-]{1,59}(?![\w\-])|[^\W\d_]{2,24}(?![\w\-]))"
_DOT_ATOM = rf"(?<![\w.%+\-]){_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+{_TLD}(?!\.\w)"
_CANDIDATE = re.compile(_DOT_ATOM)
# Quoted local parts are rare: the alternative is tried only in texts with a '"'.
_CANDIDATE_OR_QUOTED = re.compile(rf"{_DOT_ATOM}|(?<![\w\"]){_QUOTED}@(?:{_LABEL}\.)+{_TLD}(?!\.\w)")


_MAX_LOCAL = 64  # RFC 5321


class EmailDetector:
    entities = (EMAIL,)
    late = False
    min_digits = 0

    def find(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[Match]:
        out: list[Match] = []
        done = 0  # text before this offset is already searched
        at = text.find("@")
        candidate = _CANDIDATE_OR_QUOTED if at >= 0 and '"' in text else _CANDIDATE
        while at >= 0:
            # Search only near the "@": scanning the whole text with a pattern
            # that starts with a wide character class costs ~20 us a text.
            m = candidate.search(text, max(done, at - _MAX_LOCAL - 1), at + 256)
            if m is not None and m.start() <= at < m.end():
                local, _, domain = m.group().rpartition("@")
                if len(local) <= _MAX_LOCAL and len(domain) <= 253:
                    out.append(Match(EMAIL, m.start(), m.end(), 0.95))
                done = m.end()
            else:
                done = at + 1
            at = text.find("@", done)
        return out
