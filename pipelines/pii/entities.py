"""Entity types, and the field names that announce them.

Names follow AWS Glue's Detect PII labels where one exists, so a policy written
for Glue reads the same here.
"""
from __future__ import annotations

import re

US_SSN = "US_SSN"
CREDIT_CARD = "CREDIT_CARD"
EMAIL = "EMAIL"
PHONE_NUMBER = "PHONE_NUMBER"
IP_ADDRESS = "IP_ADDRESS"  # IPv4 and IPv6
IBAN = "IBAN"
MAC_ADDRESS = "MAC_ADDRESS"
AWS_ACCESS_KEY = "AWS_ACCESS_KEY"
DATE_OF_BIRTH = "DATE_OF_BIRTH"
PERSON_NAME = "PERSON_NAME"
ADDRESS = "ADDRESS"
POSTAL_CODE = "POSTAL_CODE"

#: Every entity type a built-in detector can find.
KNOWN_ENTITIES: frozenset[str] = frozenset({
    US_SSN, CREDIT_CARD, EMAIL, PHONE_NUMBER, IP_ADDRESS, IBAN, MAC_ADDRESS,
    AWS_ACCESS_KEY, DATE_OF_BIRTH, PERSON_NAME, ADDRESS, POSTAL_CODE,
})

#: Custom entity types (for typed fields) must look like the built-in ones.
ENTITY_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")

# Field names (lower-cased, separators removed) that say what a column holds.
# Names and street addresses have no reliable shape, so for them the field
# name is the strongest signal there is.
_FIELD_HINTS: dict[str, str] = {}
for _entity, _names in {
    PERSON_NAME: "name firstname lastname surname fullname givenname familyname middlename "
                 "forename customername cardholder cardholdername holdername accountholder owner accountowner",
    ADDRESS: "address streetaddress street address1 address2 addressline1 addressline2 "
             "homeaddress billingaddress shippingaddress mailingaddress",
    POSTAL_CODE: "postcode postalcode zip zipcode",
    DATE_OF_BIRTH: "dob dateofbirth birthdate birthday",
    US_SSN: "ssn socialsecuritynumber",
    EMAIL: "email emailaddress mail",
    PHONE_NUMBER: "phone phonenumber mobile mobilenumber telephone tel cellphone",
    IP_ADDRESS: "ip ipaddress ipv4 ipv6 clientip sourceip remoteaddr",
    CREDIT_CARD: "creditcard creditcardnumber cardnumber ccnumber pan",
    IBAN: "iban",
    MAC_ADDRESS: "mac macaddress",
    AWS_ACCESS_KEY: "awsaccesskeyid accesskeyid",
}.items():
    for _name in _names.split():
        _FIELD_HINTS[_name] = _entity

_NON_ALNUM = re.compile(r"[^a-z0-9]")


def entity_for_field_name(field: str) -> str | None:
    """The entity a column's name announces (``first_name`` -> PERSON_NAME), or None."""
    return _FIELD_HINTS.get(_NON_ALNUM.sub("", field.lower()))
