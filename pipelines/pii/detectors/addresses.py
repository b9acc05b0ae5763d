"""Street addresses and postal codes in free text.

A street address is a house number, one to four capitalised words and a street
suffix ("221 Baker Street", "0487 Hull Village Suite 759"), optionally followed
by a unit and ", City, ST 12345".  Postal codes alone are only personal next
to a cue ("zip", "postcode"), and only reported after one; columns named ``address``/``postcode`` are
masked by field name instead.

After a cue with a colon ("address:", "Adresse:", "Anschrift:", "dirección:",
"domicilio:"), whatever follows up to the end of the sentence is an address, in
any script and any country's order ("Hauptstraße 5, 10115 Berlin",
"東京都千代田区千代田1-1").
"""
from __future__ import annotations

import re
from typing import Sequence

from pipelines.pii.detectors.base import Match, colon_cues, confidence, context_before
from pipelines.pii.entities import ADDRESS, POSTAL_CODE

# USPS standard suffixes (the common ones) plus their abbreviations; Faker's
# en_US street suffixes are all in here.
_SUFFIXES = (
    "Alley Aly Annex Arcade Avenue Ave Bayou Beach Bend Bluff Bluffs Bottom Boulevard Blvd Branch Bridge "
    "Brook Brooks Burg Burgs Bypass Camp Canyon Cape Causeway Center Centers Circle Cir Circles Cliff "
    "Cliffs Club Common Commons Corner Corners Course Court Ct Courts Cove Coves Creek Crescent Crest "
    "Crossing Crossroad Curve Dale Dam Divide Drive Dr Drives Estate Estates Expressway Extension "
    "Extensions Fall Falls Ferry Field Fields Flat Flats Ford Fords Forest Forge Forges Fork Forks Fort "
    "Freeway Garden Gardens Gateway Glen Glens Green Greens Grove Groves Harbor Harbors Haven Heights "
    "Highway Hwy Hill Hills Hollow Inlet Island Islands Isle Junction Junctions Key Keys Knoll Knolls "
    "Lake Lakes Land Landing Lane Ln Light Lights Loaf Lock Locks Lodge Loop Mall Manor Manors Meadow "
    "Meadows Mews Mill Mills Mission Motorway Mount Mountain Mountains Neck Orchard Oval Overpass Park "
    "Parks Parkway Pkwy Parkways Pass Passage Path Pike Pine Pines Place Pl Plain Plains Plaza Point "
    "Points Port Ports Prairie Radial Ramp Ranch Rapid Rapids Rest Ridge Ridges River Road Rd Roads "
    "Route Row Rue Run Shoal Shoals Shore Shores Skyway Spring Springs Spur Spurs Square Sq Squares "
    "Station Stravenue Stream Street St Streets Summit Terrace Ter Throughway Trace Track Trafficway "
    "Trail Trl Trailer Tunnel Turnpike Underpass Union Unions Valley Valleys Via Viaduct View Views "
    "Village Villages Ville Vista Walk Walks Wall Way Ways Well Wells").split()
# Digit first, boundary checked by a lookbehind after it (see ssn.py).
_STREET = (r"\d(?<!\w\d)\d{0,5}[A-Za-z]?\s+(?:[A-Z][a-zA-Z'\-]*\.?\s+){1,4}(?:" + "|".join(_SUFFIXES)
           + r")\b\.?")
_UNIT = r"(?:,?\s+(?:Apt\.?|Apartment|Suite|Ste\.?|Unit|#)\s*[\w\-]+)?"
_CITY = r"(?:,?\s+(?:[A-Z][a-zA-Z'\-]*\s?){1,3},\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?)?"
_ADDRESS = re.compile(_STREET + _UNIT + _CITY)
# Every street address ends in a suffix word: looking for one first (a search
# that only stops at capital letters, the suffixes grouped by their first) is
# about a quarter of the cost of the address pattern, which tries every digit.
_SUFFIX_WORD = re.compile("(?:" + "|".join(
    first + "(?:" + "|".join(sorted((s[1:] for s in _SUFFIXES if s[0] == first), key=len, reverse=True)) + ")"
    for first in sorted({s[0] for s in _SUFFIXES})) + r")\b")

# Cue words before a colon, in the lower-cased text; the address runs to the end of its sentence.
_ADDRESS_CUES = ("address", "adresse", "anschrift", "dirección", "direccion", "domicilio")
# Where a cued address ends: ";", a line break, a full stop (Latin or CJK), or ". " after a word
# that is no abbreviation ("ул. Ленина", "Hauptstr. 5" go on; "Berlin. Danke" ends).
_ADDRESS_END = re.compile(r"[;\n\u3002]|\.(?:\s|$)|$")
_ABBREVIATION = re.compile(r"(?<![^\W\d_])[^\W\d_]{1,3}$")
_MAX_ADDRESS = 160

_POSTCODE = re.compile(
    r"(?<![\w\-])(?:\d{5}(?:-\d{4})?"                                   # US ZIP, ZIP+4
    r"|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}"                               # UK
    r"|[A-Z]\d[A-Z]\s?\d[A-Z]\d)(?![\w\-])")                           # Canada
_POSTCODE_CONTEXT = re.compile(r"(?i)\b(?:zip|zip\s*code|post\s*code|postal\s*code|postcode)\b")


class AddressDetector:
    entities = (ADDRESS, POSTAL_CODE)
    late = False
    min_digits = 1

    def find(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[Match]:
        out = []
        if _SUFFIX_WORD.search(text) is not None:
            out = [Match(ADDRESS, m.start(), m.end(), 0.75) for m in _ADDRESS.finditer(text)]
        low = text.lower()
        # Every cue ends in a colon; lower() may change lengths, and offsets would not line up.
        if ":" in low and len(low) == len(text):
            out.extend(_cued_addresses(text, low))
        # A postcode alone is only reported after a cue; without one, skip the search.
        if "zip" not in low and "post" not in low:
            return out
        for m in _POSTCODE.finditer(text):
            near = context_before(text, m.start(), _POSTCODE_CONTEXT, window=20)
            out.append(Match(POSTAL_CODE, m.start(), m.end(), confidence(0.3, 0.5, near)))
        return out


def _cued_addresses(text: str, low: str) -> list[Match]:
    """What follows an address cue, to the end of its sentence (at most _MAX_ADDRESS characters)."""
    out = []
    for _, colon_end in colon_cues(low, _ADDRESS_CUES):
        start = colon_end
        while start < len(text) and text[start] in " \t\u00a0":
            start += 1
        pos = start
        limit = min(len(text), start + _MAX_ADDRESS)
        while (stop := _ADDRESS_END.search(text, pos, limit)) is not None:
            pos = stop.end()
            if text[stop.start():stop.end()].startswith(".") and _ABBREVIATION.search(text, start, stop.start()):
                continue
            end = stop.start()
            break
        else:
            end = limit
        end = start + len(text[start:end].rstrip(" ,"))
        if end > start:
            out.append(Match(ADDRESS, start, end, 0.75))
    return out
