"""The built-in detectors, one module per family."""
from __future__ import annotations

from typing import Sequence

from pipelines.pii.detectors.addresses import AddressDetector
from pipelines.pii.detectors.aws import AwsAccessKeyDetector
from pipelines.pii.detectors.base import Detector, EntityRecognizer, Match
from pipelines.pii.detectors.cards import CardDetector, luhn_valid
from pipelines.pii.detectors.dob import DateOfBirthDetector
from pipelines.pii.detectors.email import EmailDetector
from pipelines.pii.detectors.iban import IbanDetector
from pipelines.pii.detectors.names import PersonNameDetector
from pipelines.pii.detectors.network import IpAddressDetector, MacAddressDetector
from pipelines.pii.detectors.phone import PhoneDetector
from pipelines.pii.detectors.ssn import SsnDetector, valid_ssn

__all__ = [
    "AddressDetector", "AwsAccessKeyDetector", "CardDetector", "DateOfBirthDetector", "Detector",
    "EmailDetector", "EntityRecognizer", "IbanDetector", "IpAddressDetector", "MacAddressDetector",
    "Match", "PersonNameDetector", "PhoneDetector", "SsnDetector", "default_detectors", "luhn_valid",
    "valid_ssn",
]


def default_detectors(phone_regions: Sequence[str] = ("US",)) -> list[Detector]:
    """One instance of every built-in detector."""
    return [
        EmailDetector(), CardDetector(), SsnDetector(), IpAddressDetector(), MacAddressDetector(),
        IbanDetector(), AwsAccessKeyDetector(), PhoneDetector(phone_regions), DateOfBirthDetector(),
        PersonNameDetector(), AddressDetector(),
    ]
