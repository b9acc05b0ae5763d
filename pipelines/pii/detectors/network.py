"""Network identifiers: IPv4 and IPv6 addresses (validated by ``ipaddress``), MAC addresses."""
from __future__ import annotations

import ipaddress
import re
from typing import Sequence

from pipelines.pii.detectors.base import Match
from pipelines.pii.entities import IP_ADDRESS, MAC_ADDRESS

# Lookbehinds come after the first character so the engine can skip ahead
# to candidate characters in C (see ssn.py).
_IPV4 = re.compile(r"\d(?<![\w.]\d)\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![\w]|\.\d)")
# Part of every IPv4 address, and starting with a literal "." the engine finds
# fast: texts without it skip the address pattern.
_DOTTED = re.compile(r"\.\d{1,3}\.\d")
# Hex groups and colons (with an optional dotted IPv4 tail and zone id);
# ``ipaddress`` decides.  Times like 12:30:45 and MACs fail validation there.
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{1,4})?"
    r"(?:%[\w.]+)?(?![\w:]|\.\d)")
_MAC = re.compile(
    r"[0-9A-Fa-f](?<![\w:.-][0-9A-Fa-f])(?:[0-9A-Fa-f]([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}"
    r"|[0-9A-Fa-f]{3}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![\w:-]|\.\w)")
_DOTTED_HEX = re.compile(r"\.[0-9A-Fa-f]{4}\.")
_SEPARATED_PAIR = re.compile(r"([:-])[0-9A-Fa-f]{2}\1")


class IpAddressDetector:
    entities = (IP_ADDRESS,)
    late = False
    min_digits = 0

    def find(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[Match]:
        out = []
        if _DOTTED.search(text) is not None:
            for m in _IPV4.finditer(text):
                try:
                    ipaddress.IPv4Address(m.group())  # rejects octets > 255 and leading zeros
                except ValueError:
                    continue
                out.append(Match(IP_ADDRESS, m.start(), m.end(), 0.9))
        if text.count(":") >= 2:
            for m in _IPV6.finditer(text):
                raw = m.group()
                if raw.count(":") < 2:
                    continue
                try:
                    ipaddress.IPv6Address(raw)
                except ValueError:
                    continue
                # An IPv4 tail ("::ffff:192.0.2.1") was also found as IPv4: keep the whole.
                out = [o for o in out if not (m.start() <= o.start and o.end <= m.end())]
                out.append(Match(IP_ADDRESS, m.start(), m.end(), 0.9))
        return out


class MacAddressDetector:
    entities = (MAC_ADDRESS,)
    late = False
    min_digits = 0

    def find(self, text: str, skip: Sequence[tuple[int, int]] = ()) -> list[Match]:
        # Six hex pairs need five separators, two of them around a pair
        # (dashed card and phone numbers have the dashes, not the pairs); the
        # dotted form needs ".hhhh.".
        if (text.count(":") < 5 and text.count("-") < 5 or _SEPARATED_PAIR.search(text) is None) \
                and _DOTTED_HEX.search(text) is None:
            return []
        return [Match(MAC_ADDRESS, m.start(), m.end(), 0.85) for m in _MAC.finditer(text)]
