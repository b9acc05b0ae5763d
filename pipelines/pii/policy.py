"""Masking policies: which fields hold what, and what to do with it.

A policy is YAML or JSON (YAML's safe loader reads both)::

    version: 1
    name: payments
    mode: fields            # fields | cells | classify: what happens to fields not listed
    keys:                   # references only; the key bytes never appear here
      hmac: {env: SHARDLINE_PII_HMAC_KEY}
    scan: {min_confidence: 0.5, phone_regions: [US]}
    classify: {sample: 0.1, threshold: 0.1}
    actions:                # for PII found by scanning, per entity type, plus a default
      default: {action: redact}
    fields:
      ssn: {entity: US_SSN, action: hash, key: hmac}
      notes: scan           # free text: scanned, each match masked per ``actions``
      country: keep

Modes (for fields the policy does not list): ``fields`` passes them through
untouched; ``cells`` scans every value; ``classify`` labels columns the way AWS
Glue's Detect PII does (scan a sample of records, label a column when the share
of its values holding an entity reaches the threshold) and then masks labelled
columns whole.  Validation errors name the key path: ``fields.ssn.action:
unknown action 'redakt' (...)``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from pipelines.pii.actions import ACTION_OPTIONS, Action, Redact, build_action
from pipelines.pii.entities import ENTITY_NAME, KNOWN_ENTITIES
from pipelines.pii.errors import PolicyError
from pipelines.pii.keys import KeyLoader, KeyRef, parse_key_refs

MODES = ("fields", "cells", "classify")
KEEP, TYPED, SCAN = "keep", "typed", "scan"
_TOP_LEVEL = ("version", "name", "mode", "keys", "scan", "classify", "actions", "fields")
BUILTIN_POLICIES = ("payments", "generic")


@dataclass(frozen=True)
class ScanSettings:
    """How free text (and, in cells/classify mode, unlisted fields) is scanned."""

    entities: frozenset[str] | None = None
    """Entity types to look for; None means every built-in type."""
    min_confidence: float = 0.5
    """Matches below this confidence are ignored."""
    phone_regions: tuple[str, ...] = ("US",)
    """Regions whose national phone formats are recognised ("+" numbers are recognised from anywhere)."""
    field_hints: bool = True
    """In cells/classify mode, mask unlisted fields named like ``first_name`` or ``dob`` whole."""


@dataclass(frozen=True)
class ClassifySettings:
    """Glue-style column classification, used in ``classify`` mode."""

    sample: float = 0.1
    """Fraction of records whose unlisted columns are scanned to classify them."""
    threshold: float = 0.1
    """A column is labelled with an entity when at least this share of its sampled values hold one."""
    min_samples: int = 10
    """Sampled values a column needs before it can be labelled."""
    unlabelled: str = "scan"
    """What happens to columns not (yet) labelled: ``scan`` every value, or ``keep`` it (Glue's behaviour)."""


@dataclass(frozen=True)
class FieldRule:
    """What the policy does with one named field."""

    field: str
    #: keep (pass through), typed (mask the whole value as ``entity``) or scan (free text).
    kind: str
    entity: str | None = None
    action: Action | None = None
    #: For scanned fields: settings overriding the policy's ``scan`` section.
    scan: ScanSettings | None = None


@dataclass(frozen=True)
class MaskingPolicy:
    """A validated policy with its actions built and keys loaded."""

    #: Name shown in logs and reports.
    name: str = "policy"
    #: What happens to fields the policy does not list: fields, cells or classify.
    mode: str = "fields"
    #: Rules for named fields.
    fields: Mapping[str, FieldRule] = field(default_factory=dict)
    #: Scanning settings for free text and unlisted fields.
    scan: ScanSettings = ScanSettings()
    #: Column classification settings (classify mode).
    classify: ClassifySettings = ClassifySettings()
    #: Action per entity type for PII found by scanning or classification.
    entity_actions: Mapping[str, Action] = field(default_factory=dict)
    #: Action for found PII whose entity type has none in ``entity_actions``.
    default_action: Action = Redact()

    def action_for(self, entity: str) -> Action:
        return self.entity_actions.get(entity, self.default_action)


# --- loading ---------------------------------------------------------------------------

def load_policy(path: str | Path, *, environ: Mapping[str, str] | None = None,
                read_file: Callable[[Path], bytes] = Path.read_bytes) -> MaskingPolicy:
    """Read and validate a policy file; key files named relative to it are found beside it."""
    path = Path(path)
    try:
        text = read_file(path).decode("utf-8")
    except FileNotFoundError:
        raise PolicyError("", f"policy file {path} does not exist") from None
    except UnicodeDecodeError:
        raise PolicyError("", f"policy file {path} is not valid UTF-8") from None
    return parse_policy(text, environ=environ, base_dir=path.parent, read_file=read_file)


def builtin_policy(name: str, *, environ: Mapping[str, str] | None = None) -> MaskingPolicy:
    """One of the policies shipped in ``pipelines/pii/policies`` ("payments", "generic")."""
    if name not in BUILTIN_POLICIES:
        raise PolicyError("", f"no built-in policy {name!r} (built-in: {', '.join(BUILTIN_POLICIES)})")
    text = resources.files("pipelines.pii").joinpath("policies").joinpath(f"{name}.yaml").read_text("utf-8")
    return parse_policy(text, environ=environ)


def parse_policy(source: str | Mapping[str, Any], *, environ: Mapping[str, str] | None = None,
                 base_dir: Path | None = None,
                 read_file: Callable[[Path], bytes] = Path.read_bytes) -> MaskingPolicy:
    """Validate a policy given as YAML/JSON text or an already-parsed mapping.

    ``environ`` defaults to the process environment, read now: keys are loaded
    here, so a missing key fails the load rather than the first record.
    """
    data = _parse_text(source) if isinstance(source, str) else source
    if not isinstance(data, Mapping):
        raise PolicyError("", "a policy must be a mapping with a 'fields' or 'mode' key")
    for key in data:
        if key not in _TOP_LEVEL:
            raise PolicyError(str(key), f"unknown key (known: {', '.join(_TOP_LEVEL)})")
    version = data.get("version", 1)
    if version != 1:
        raise PolicyError("version", f"unsupported policy version {version!r} (this shardline reads 1)")
    name = data.get("name", "policy")
    if not isinstance(name, str) or not name:
        raise PolicyError("name", "must be a non-empty string")
    mode = data.get("mode", "fields")
    if mode not in MODES:
        raise PolicyError("mode", f"unknown mode {mode!r} (expected one of: {', '.join(MODES)})")
    loader = KeyLoader(os.environ if environ is None else environ, base_dir, read_file)
    key_refs = parse_key_refs(data.get("keys"))
    scan = _scan_settings(data.get("scan"), "scan", ScanSettings())
    classify = _classify_settings(data.get("classify"))
    entity_actions, default_action = _entity_actions(data.get("actions"), key_refs, loader)
    fields = _fields(data.get("fields"), key_refs, loader, scan)
    if not fields and mode == "fields":
        raise PolicyError("fields", "a policy in 'fields' mode must list at least one field")
    return MaskingPolicy(name=name, mode=mode, fields=fields, scan=scan, classify=classify,
                         entity_actions=entity_actions, default_action=default_action)


def _parse_text(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise PolicyError("", f"not valid YAML or JSON{where}: {problem}") from None


def _mapping(raw: Any, path: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise PolicyError(path, "must be a mapping")
    return raw


def _check_keys(raw: Mapping[str, Any], path: str, known: tuple[str, ...]) -> None:
    for key in raw:
        if key not in known:
            raise PolicyError(f"{path}.{key}", f"unknown key (known: {', '.join(known)})")


def _entity(value: Any, path: str, *, known_only: bool) -> str:
    if not isinstance(value, str) or not ENTITY_NAME.match(value):
        raise PolicyError(path, f"{value!r} is not an entity type (UPPER_SNAKE_CASE, e.g. US_SSN)")
    if known_only and value not in KNOWN_ENTITIES:
        raise PolicyError(path, f"unknown entity type {value!r} (known: {', '.join(sorted(KNOWN_ENTITIES))})")
    return value


def _fraction(raw: Mapping[str, Any], key: str, path: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise PolicyError(f"{path}.{key}", "must be a number from 0 to 1")
    return float(value)


def _scan_settings(raw: Any, path: str, base: ScanSettings) -> ScanSettings:
    if raw is True:
        return base
    raw = _mapping(raw, path)
    _check_keys(raw, path, ("entities", "min_confidence", "phone_regions", "field_hints"))
    entities = base.entities
    if "entities" in raw:
        value = raw["entities"]
        if value == "all":
            entities = None
        elif isinstance(value, list) and value:
            entities = frozenset(_entity(e, f"{path}.entities[{i}]", known_only=True)
                                 for i, e in enumerate(value))
        else:
            raise PolicyError(f"{path}.entities", "must be 'all' or a non-empty list of entity types")
    regions = raw.get("phone_regions", list(base.phone_regions))
    if (not isinstance(regions, list) or not regions
            or not all(isinstance(r, str) and len(r) == 2 and r.isalpha() for r in regions)):
        raise PolicyError(f"{path}.phone_regions", "must be a non-empty list of two-letter region codes")
    hints = raw.get("field_hints", base.field_hints)
    if not isinstance(hints, bool):
        raise PolicyError(f"{path}.field_hints", "must be true or false")
    return ScanSettings(entities=entities, min_confidence=_fraction(raw, "min_confidence", path,
                                                                    base.min_confidence),
                        phone_regions=tuple(r.upper() for r in regions), field_hints=hints)


def _classify_settings(raw: Any) -> ClassifySettings:
    raw = _mapping(raw, "classify")
    _check_keys(raw, "classify", ("sample", "threshold", "min_samples", "unlabelled"))
    defaults = ClassifySettings()
    sample = _fraction(raw, "sample", "classify", defaults.sample)
    if sample == 0.0:
        raise PolicyError("classify.sample", "must be more than 0 (no column could ever be labelled)")
    min_samples = raw.get("min_samples", defaults.min_samples)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise PolicyError("classify.min_samples", "must be a positive integer")
    unlabelled = raw.get("unlabelled", defaults.unlabelled)
    if unlabelled not in ("scan", "keep"):
        raise PolicyError("classify.unlabelled", f"unknown value {unlabelled!r} (expected one of: scan, keep)")
    return ClassifySettings(sample=sample, threshold=_fraction(raw, "threshold", "classify", defaults.threshold),
                            min_samples=min_samples, unlabelled=unlabelled)


def _action(spec: Any, path: str, key_refs: Mapping[str, KeyRef], loader: KeyLoader,
            extra: tuple[str, ...] = ()) -> Action:
    if isinstance(spec, str):
        spec = {"action": spec}
    if not isinstance(spec, Mapping):
        raise PolicyError(path, "must be an action name or a mapping with an 'action' key")
    if "action" not in spec:
        raise PolicyError(f"{path}.action", f"is required (one of: {', '.join(sorted(ACTION_OPTIONS))})")
    options = {k: v for k, v in spec.items() if k != "action" and k not in extra}
    return build_action(spec["action"], options, path, key_refs, loader)


def _entity_actions(raw: Any, key_refs: Mapping[str, KeyRef],
                    loader: KeyLoader) -> tuple[dict[str, Action], Action]:
    raw = _mapping(raw, "actions")
    actions, default = {}, Redact()
    for key, spec in raw.items():
        path = f"actions.{key}"
        if key == "default":
            default = _action(spec, path, key_refs, loader)
        else:
            actions[_entity(key, path, known_only=False)] = _action(spec, path, key_refs, loader)
    return actions, default


def _fields(raw: Any, key_refs: Mapping[str, KeyRef], loader: KeyLoader,
            scan: ScanSettings) -> dict[str, FieldRule]:
    raw = _mapping(raw, "fields")
    rules = {}
    for name, spec in raw.items():
        if not isinstance(name, str):
            raise PolicyError(f"fields.{name}", "field names must be strings (quote it in YAML)")
        path = f"fields.{name}"
        if spec in ("keep", "scan"):
            spec = {"action": "keep"} if spec == "keep" else {"scan": True}
        if not isinstance(spec, Mapping):
            raise PolicyError(path, "must be 'keep', 'scan', or a mapping with entity and action")
        if "scan" in spec:
            for key in spec:
                if key != "scan":
                    raise PolicyError(f"{path}.{key}", "a scanned field takes its actions from the policy's "
                                                       "actions section; give only 'scan' here")
            rules[name] = FieldRule(name, SCAN, scan=_scan_settings(spec["scan"], f"{path}.scan", scan))
            continue
        if spec.get("action") == "keep":
            _check_keys(spec, path, ("action", "entity"))
            rules[name] = FieldRule(name, KEEP)
            continue
        if "entity" not in spec:
            raise PolicyError(f"{path}.entity", "is required: the entity type this field holds (e.g. US_SSN), "
                                                "counted in masking reports")
        entity = _entity(spec["entity"], f"{path}.entity", known_only=False)
        rules[name] = FieldRule(name, TYPED, entity=entity,
                                action=_action(spec, path, key_refs, loader, extra=("entity",)))
    return rules
