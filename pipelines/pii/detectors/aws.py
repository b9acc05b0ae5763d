"""AWS access key ids: a four-letter prefix that names the kind of credential, then 16 characters."""
from __future__ import annotations

import re
from typing import Sequence

from pipelines.pii.detectors.base import Match
from pipelines.pii.entities import AWS_ACCESS_KEY

# AKIA: long-term user keys; ASIA: STS temporary keys; the others are ids of
# groups, roles, users, ... that IAM prints in the same format.
_CANDIDATE = re.compile(
    r"A(?<![A-Za-z0-9]A)(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|3T[A-Z0-9])"
    r"[A-Z0-9]{16}(?![A-Za-z0-9])")


class AwsAccessKeyDetector:
    entities = (AWS_ACCESS_KEY,)
    late = False
    min_digits = 0

    def find(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[Match]:
        if "A" not in text:
            return []
        return [Match(AWS_ACCESS_KEY, m.start(), m.end(), 0.9) for m in _CANDIDATE.finditer(text)]
