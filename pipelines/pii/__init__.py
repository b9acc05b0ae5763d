"""PII masking in the stream: detect, mask, tokenize.  Pure logic, no I/O beyond reading policy and key files.

Load a policy (``load_policy("my-policy.yaml")``, or a built-in one) with its keys, then mask
payloads; fields the policy does not name pass through untouched, and the counts never hold
values (the keys here are examples: use ``openssl rand -hex 32``):

>>> keys = {"SHARDLINE_PII_HMAC_KEY": "ab" * 32, "SHARDLINE_PII_FPE_KEY": "cd" * 16}
>>> masker = Masker(builtin_policy("payments", environ=keys))
>>> masked, counts = masker.mask({"credit_card_number": "4111 1111 1111 1111", "postcode": "94107",
...                               "currency": "USD", "notes": "Call me on 415-555-0132"})
>>> masked
{'credit_card_number': '4111 1154 9904 1111', 'postcode': '94***', 'currency': 'USD', 'notes': 'Call me on [PHONE_NUMBER]'}
>>> counts
{'CREDIT_CARD': 1, 'POSTAL_CODE': 1, 'PHONE_NUMBER': 1}
"""
from pipelines.pii.actions import decrypt
from pipelines.pii.classify import ColumnClassifier, ColumnStats, classify_columns
from pipelines.pii.detectors import Detector, EntityRecognizer, Match, default_detectors
from pipelines.pii.entities import KNOWN_ENTITIES, entity_for_field_name
from pipelines.pii.errors import MaskingError, MissingKeyError, PolicyError
from pipelines.pii.masker import Masker, MaskResult
from pipelines.pii.policy import (
    BUILTIN_POLICIES, ClassifySettings, FieldRule, MaskingPolicy, ScanSettings, builtin_policy, load_policy,
    parse_policy,
)
from pipelines.pii.scanner import Scanner, resolve_overlaps

__all__ = [
    "BUILTIN_POLICIES", "ClassifySettings", "ColumnClassifier", "ColumnStats", "Detector", "EntityRecognizer",
    "FieldRule", "KNOWN_ENTITIES", "MaskResult", "Masker", "MaskingError", "MaskingPolicy", "Match",
    "MissingKeyError", "PolicyError", "ScanSettings", "Scanner", "builtin_policy", "classify_columns", "decrypt",
    "default_detectors", "entity_for_field_name", "load_policy", "parse_policy", "resolve_overlaps",
]
