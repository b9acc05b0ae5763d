"""Synthetic PII values in the shapes people write them, each with a variant tag for per-shape reports.

Used by the generator for typed fields and for notes.  Every value is valid by
its own rules (Luhn for cards, the SSA's rules for SSNs, libphonenumber's
metadata for phone numbers, ``ipaddress`` for IPs), so a detector that misses
one has missed real PII.  Faker supplies names, addresses, emails and IPs;
the shapes it lacks (card brands and lengths, SSN separators, international
and extension phone formats) come from the tables below.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import random
import string

import phonenumbers
from faker import Faker
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from stdnum import ean as stdnum_ean
from stdnum import isbn as stdnum_isbn

# Issuer ranges per brand (ISO/IEC 7812 IINs as the brands publish them):
# (display name, ((low, high) prefix ranges of equal width), allowed lengths).
CARD_BRANDS: dict[str, tuple[str, tuple[tuple[int, int], ...], tuple[int, ...]]] = {
    "visa": ("Visa", ((4, 4),), (13, 16, 19)),
    "mastercard": ("Mastercard", ((51, 55), (2221, 2720)), (16,)),
    "amex": ("American Express", ((34, 34), (37, 37)), (15,)),
    "discover": ("Discover", ((6011, 6011), (644, 649), (65, 65)), (16, 17, 18, 19)),
    "jcb": ("JCB", ((3528, 3589),), (16, 17, 18, 19)),
    "jcb15": ("JCB", ((2131, 2131), (1800, 1800)), (15,)),  # the legacy 15-digit JCB ranges
    "diners": ("Diners Club", ((300, 305), (36, 36), (38, 39)), (14, 15, 16, 17, 18, 19)),
    "unionpay": ("UnionPay", ((62, 62),), (16, 17, 18, 19)),
    "maestro": ("Maestro", ((5018, 5018), (5020, 5020), (5038, 5038), (5893, 5893), (6304, 6304),
                            (6759, 6759), (6761, 6763)), tuple(range(12, 20))),
    "mir": ("Mir", ((2200, 2204),), (16, 17, 18, 19)),
    "rupay": ("RuPay", ((60, 60), (6521, 6522), (81, 82), (508, 508)), (16,)),
}
GROUPINGS = ("none", "space", "dash")
# Faker's "this year" / "age" helpers count from today: fixed windows keep a seed's records the same every day.
DATES_FROM, DATES_TO = dt.datetime(2020, 1, 1), dt.datetime(2026, 1, 1)
BIRTHS_FROM, BIRTHS_TO = dt.date(1936, 1, 1), dt.date(2007, 12, 31)

# Regions for international numbers, and the national formats the payments
# policy reads (its phone_regions: US, GB).
PHONE_REGIONS = ("GB", "DE", "FR", "IN", "JP", "AU", "BR", "MX", "SG", "ZA", "CN", "CA", "US", "IE", "CH",
                 "NL", "ES", "IT", "PL", "SE", "KR", "NG")
NATIONAL_REGIONS = ("US", "GB")
TRUNK0_REGIONS = frozenset({"GB", "DE", "FR", "AU", "ZA", "IE", "CH", "NL", "SE", "NG"})
EXTENSIONS = ("x{}", " x{}", " ext. {}", " ext {}", " extension {}", ", ext. {}")


def luhn_complete(body: str) -> str:
    """``body`` plus the digit that makes it pass the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # doubled: these become the odd positions once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def group_digits(digits: str, grouping: str) -> str:
    """Digits printed the way cards print them: 4-6-5 (15), 4-6-4 (14), 4-3-3-3 (13), else mostly fours."""
    if grouping == "none":
        return digits
    n = len(digits)
    special = {13: (4, 3, 3, 3), 14: (4, 6, 4), 15: (4, 6, 5), 17: (4, 4, 4, 5)}
    sizes = special.get(n) or (4,) * (n // 4) + ((n % 4,) if n % 4 else ())
    parts, pos = [], 0
    for size in sizes:
        parts.append(digits[pos:pos + size])
        pos += size
    return (" " if grouping == "space" else "-").join(parts)


class ValueFactory:
    """Draws values and their variant tags from one seeded ``random.Random`` and one seeded Faker."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self._phone_templates: dict[tuple[str, int], phonenumbers.PhoneNumber] = {}

    # --- cards ----------------------------------------------------------------------
    def card_digits(self, brand: str | None = None, length: int | None = None, *,
                    valid: bool = True) -> tuple[str, str, int]:
        """(digits, brand, length) of a random card; ``valid=False`` breaks its Luhn check digit."""
        rng = self.rng
        brand = brand or rng.choice(tuple(CARD_BRANDS))
        _, ranges, lengths = CARD_BRANDS[brand]
        length = length or rng.choice(lengths)
        lo, hi = rng.choice(ranges)
        prefix = str(rng.randint(lo, hi))
        body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
        digits = luhn_complete(body)
        if not valid:
            digits = digits[:-1] + str((int(digits[-1]) + rng.randint(1, 9)) % 10)
        return digits, brand, length

    def card(self) -> tuple[str, str, str]:
        """(text, variant, brand display name): e.g. ("3782 822463 10005", "amex-15-space", "American Express")."""
        digits, brand, length = self.card_digits()
        grouping = self.rng.choice(GROUPINGS)
        return group_digits(digits, grouping), f"{brand}-{length}-{grouping}", CARD_BRANDS[brand][0]

    # --- SSNs -----------------------------------------------------------------------------
    def ssn(self, separator: str | None = None) -> tuple[str, str]:
        rng = self.rng
        area = rng.randint(1, 899)  # 000, 666 and 900-999 were never issued
        area = 667 if area == 666 else area
        sep = separator if separator is not None else rng.choice(("-", " ", ""))
        text = f"{area:03d}{sep}{rng.randint(1, 99):02d}{sep}{rng.randint(1, 9999):04d}"
        return text, {"-": "ssn-dash", " ": "ssn-space", "": "ssn-none"}[sep]

    # --- phone numbers ----------------------------------------------------------------
    def _phone_number(self, region: str) -> phonenumbers.PhoneNumber:
        """A valid number of ``region``: its example number with the last digits redrawn until valid."""
        kind = self.rng.choice((PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE))
        template = self._phone_templates.get((region, kind))
        if template is None:
            template = phonenumbers.example_number_for_type(region, kind) or phonenumbers.example_number(region)
            self._phone_templates[(region, kind)] = template
        national = str(template.national_number)
        for _ in range(50):
            keep = max(len(national) - self.rng.randint(4, 6), 1)
            candidate = national[:keep] + "".join(self.rng.choice(string.digits)
                                                  for _ in range(len(national) - keep))
            number = phonenumbers.PhoneNumber(country_code=template.country_code, national_number=int(candidate),
                                              italian_leading_zero=template.italian_leading_zero)
            if phonenumbers.is_valid_number_for_region(number, region):
                return number
        return template

    def phone(self) -> tuple[str, str]:
        """(text, variant): US numbers as Faker writes them (extensions included), international and national ones."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            text = self.fake.phone_number()
            return text, "us-faker-ext" if "x" in text else "us-faker"
        if roll < 0.65:
            region = rng.choice(PHONE_REGIONS)
            number = self._phone_number(region)
            style = rng.choice(("international", "e164", "idd00", "idd011", "dashes", "trunk0"))
            intl = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
            if style == "trunk0" and region in TRUNK0_REGIONS:
                code, rest = intl.split(" ", 1)  # "+44 (0)20 7946 0958", as written across Europe
                text = f"{code} (0){rest}"
            elif style == "trunk0":
                text, style = intl, "international"
            elif style == "e164":
                text = phonenumbers.format_number(number, PhoneNumberFormat.E164)
            elif style == "idd00":
                text = "00" + intl[1:]
            elif style == "idd011":
                text = "011 " + intl[1:]
            elif style == "dashes":
                text = intl.replace(" ", "-")
            else:
                text = intl
            if rng.random() < 0.15:
                return text + rng.choice(EXTENSIONS).format(rng.randint(1, 9999)), f"intl-{style}-ext"
            return text, f"intl-{style}"
        region = rng.choice(NATIONAL_REGIONS)
        text = phonenumbers.format_number(self._phone_number(region), PhoneNumberFormat.NATIONAL)
        if region == "US":
            text = rng.choice((text, text.replace("(", "").replace(") ", "-"), text.replace("(", "")
                               .replace(") ", ".").replace("-", ".")))
        if rng.random() < 0.5:
            ext = str(rng.randint(1, 99999))
            return text + rng.choice(EXTENSIONS).format(ext), f"national-{region.lower()}-ext"
        return text, f"national-{region.lower()}"

    # --- emails and network addresses ---------------------------------------------------
    def email(self) -> tuple[str, str]:
        rng, fake = self.rng, self.fake
        roll = rng.random()
        if roll < 0.4:
            return fake.email(), "faker"
        if roll < 0.6:
            return fake.free_email(), "free"
        first, last = fake.first_name().lower(), fake.last_name().lower()
        if roll < 0.75:
            return f"{first}.{last}+{rng.choice(('billing', 'orders', 'x1'))}@{fake.domain_name()}", "plus-tag"
        if roll < 0.9:
            return f"{first}_{last}{rng.randint(1, 999)}@mail.{fake.domain_word()}.co.uk", "subdomain"
        return f"{first.capitalize()}.{last.capitalize()}@{fake.domain_name().upper()}", "uppercase"

    def ip(self) -> tuple[str, str]:
        roll = self.rng.random()
        if roll < 0.55:
            return self.fake.ipv4(), "ipv4"
        full = self.fake.ipv6()
        if roll < 0.7:
            return full, "ipv6-full"
        if roll < 0.9:
            # Zero a run of groups so the compressed form has a "::" in it.
            groups = full.split(":")
            run = self.rng.randint(2, 3)
            i = self.rng.randint(1, 7 - run)
            groups[i:i + run] = ["0"] * run
            return ipaddress.IPv6Address(":".join(groups)).compressed, "ipv6-compressed"
        return f"::ffff:{self.fake.ipv4_public()}", "ipv6-mapped-ipv4"

    # --- secondary entities (reported, no goals) ---------------------------------------
    def iban(self) -> tuple[str, str]:
        value = self.fake.iban()
        if self.rng.random() < 0.5:
            return " ".join(value[i:i + 4] for i in range(0, len(value), 4)), "iban-grouped"
        return value, "iban-compact"

    def mac(self) -> tuple[str, str]:
        mac = self.fake.mac_address()
        return (mac.upper(), "mac-colon") if self.rng.random() < 0.5 else (mac.replace(":", "-"), "mac-dash")

    def aws_key(self) -> tuple[str, str]:
        prefix = self.rng.choice(("AKIA", "ASIA"))
        return prefix + "".join(self.rng.choice(string.ascii_uppercase + "234567") for _ in range(16)), prefix.lower()

    def date_of_birth(self) -> tuple[str, str]:
        dob = self.fake.date_between(start_date=BIRTHS_FROM, end_date=BIRTHS_TO)
        style = self.rng.choice(("iso", "us", "long"))
        text = {"iso": dob.isoformat(), "us": dob.strftime("%m/%d/%Y"), "long": dob.strftime("%d %B %Y")}[style]
        return text, f"dob-{style}"

    def name(self) -> tuple[str, str]:
        return f"{self.fake.first_name()} {self.fake.last_name()}", "full-name"

    # --- hard negatives --------------------------------------------------------------------------
    def isbn(self) -> tuple[str, str]:
        body = self.rng.choice(("978", "979")) + "".join(self.rng.choice(string.digits) for _ in range(9))
        isbn13 = body + stdnum_ean.calc_check_digit(body)
        style = self.rng.choice(("hyphens", "compact", "isbn10"))
        if style == "hyphens":
            return stdnum_isbn.format(isbn13), "isbn13-hyphens"
        if style == "isbn10" and isbn13.startswith("978"):
            return stdnum_isbn.format(stdnum_isbn.to_isbn10(isbn13)), "isbn10"
        return isbn13, "isbn13-compact"

    def digits(self, n: int) -> str:
        return str(self.rng.randint(1, 9)) + "".join(self.rng.choice(string.digits) for _ in range(n - 1))
