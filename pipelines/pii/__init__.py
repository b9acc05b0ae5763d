"""PII masking in the stream: detect, mask, tokenize.  Pure logic, no I/O beyond reading policy and key files.

    policy = load_policy("payments.yaml")          # or builtin_policy("payments")
    masker = Masker(policy)
    masked, counts = masker.mask(record.payload)   # counts: {"CREDIT_CARD": 1, ...}, never values
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
