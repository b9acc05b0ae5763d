"""Email addresses (RFC 5322 dot-atom local part, DNS domain with a TLD).

Deliberately not the full RFC grammar: quoted local parts and IP-literal
domains do not occur in payment data, and a tight pattern keeps precision up.
"""
from __future__ import annotations

import re
from typing import Sequence

from pipelines.pii.detectors.base import Match
from pipelines.pii.entities import EMAIL

_CANDIDATE = re.compile(
    r"(?<![\w.%+\-])[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w\-]|\.\w)")


_MAX_LOCAL = 64  # RFC 5321


class EmailDetector:
    entities = (EMAIL,)
    late = False
    min_digits = 0

    def find(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[Match]:
        out: list[Match] = []
        done = 0  # text before this offset is already searched
        at = text.find("@")
        while at >= 0:
            # Search only near the "@": scanning the whole text with a pattern
            # that starts with a wide character class costs ~20 us a text.
            m = _CANDIDATE.search(text, max(done, at - _MAX_LOCAL - 1), at + 256)
            if m is not None and m.start() <= at < m.end():
                local, _, domain = m.group().rpartition("@")
                if len(local) <= _MAX_LOCAL and len(domain) <= 253:
                    out.append(Match(EMAIL, m.start(), m.end(), 0.95))
                done = m.end()
            else:
                done = at + 1
            at = text.find("@", done)
        return out
