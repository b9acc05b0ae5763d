"""International Bank Account Numbers, validated by python-stdnum (country length + mod 97)."""
from __future__ import annotations

import re
from typing import Sequence

from stdnum import iban as stdnum_iban

from pipelines.pii.detectors.base import Match
from pipelines.pii.entities import IBAN

# Country code, check digits, then 11-30 alphanumerics, optionally in groups of four parted by
# spaces, dashes or dots (what stdnum's compact() strips; other scripts' spaces are folded to
# ASCII first, see pipelines.pii.normalize).
_CANDIDATE = re.compile(r"[A-Z](?<!\w[A-Z])[A-Z]\d{2}(?:[ .\-]?[A-Z0-9]{4}){2,7}(?:[ .\-]?[A-Z0-9]{1,4})?(?![\w])")


class IbanDetector:
    entities = (IBAN,)
    late = False
    min_digits = 8

    def find(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[Match]:
        out = []
        for m in _CANDIDATE.finditer(text):
            if stdnum_iban.is_valid(m.group()):
                out.append(Match(IBAN, m.start(), m.end(), 0.95))
        return out
