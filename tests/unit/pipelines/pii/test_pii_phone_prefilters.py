"""The phone detector's prefilters skip phonenumbers calls, never change an answer.

``PhoneDetector._match`` rules runs out by length (``_NationalPlan``) and
parses plain runs whole instead of running the matcher.  The reference here
is the unoptimised rule: ``PhoneNumberMatcher`` on every run, in every
configured region, keeping numbers grouped the way their format groups them.
"""
import random

import pytest
from phonenumbers import Leniency, PhoneNumberMatcher

from pipelines.pii.detectors import PhoneDetector
from pipelines.pii.detectors.phone import _EXTENSION, _IDD, _NOT_DIGITS, _grouped_as_formatted

SEPARATORS = [" ", "-", ".", " ", "-", "/", " - ", "  "]


def reference(detector: PhoneDetector, raw: str) -> list[tuple[int, int]]:
    regions = detector.regions[:1] if raw[0] == "+" else detector.regions
    for region in regions:
        prefix = detector._prefixes.get(region)
        if prefix is not None and (not prefix or not raw.lstrip("(").startswith(prefix)):
            continue
        found = [(pm.start, pm.end) for pm in PhoneNumberMatcher(raw, region, leniency=Leniency.POSSIBLE)
                 if _grouped_as_formatted(pm.raw_string, pm.number)]
        if found:
            return found
    return []


def random_run(rng: random.Random) -> str:
    lead = rng.choice(["", "", "", "+", "+1 ", "1-", "0", "00", "011 ", "(", "(", "+44 (0)"])
    groups = [str(rng.randrange(10 ** (n - 1) if n > 1 else 0, 10 ** n))
              for n in (rng.choice([1, 2, 3, 3, 3, 4, 4, 5, 6, 7, 10]) for _ in range(rng.randint(1, 5)))]
    body = groups[0]
    for group in groups[1:]:
        body += rng.choice(SEPARATORS) + group
    if lead == "(" and len(groups) > 1:
        body = "(" + groups[0] + ")" + rng.choice([" ", "", "-"]) + rng.choice(["-", " ", "."]).join(groups[1:])
        lead = ""
    tail = rng.choice(["", "", "", f" x{rng.randint(1, 99999)}", f"x{rng.randint(1, 99999)}",
                       f" ext. {rng.randint(1, 999)}", f", ext. {rng.randint(1, 99999)}", f" extension {rng.randint(1, 99)}",
                       "#12"])
    return lead + body + tail


@pytest.mark.parametrize("regions", [("US",), ("US", "GB", "DE"), ("GB",), ("DE", "FR")])
def test_prefilters_agree_with_the_matcher_on_random_runs(regions):
    detector = PhoneDetector(regions)
    rng = random.Random(2026)
    checked = 0
    for _ in range(3000):
        raw = random_run(rng)
        if raw[0] in " .-":
            continue
        digits = _NOT_DIGITS.sub("", _EXTENSION.split(raw, 1)[0])
        if not digits:
            continue
        idd = None if raw[0] == "+" else _IDD.match(raw)
        run = "+" + raw[idd.end():] if idd else raw
        assert detector._match(run, digits) == reference(detector, run), run
        checked += 1
    assert checked > 1000
