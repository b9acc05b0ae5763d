"""The PII masking pattern as a pipeline function: ``Record -> Record``, the same in every engine.

    pipeline = masking_pipeline(builtin_policy("payments"))
    masked = pipeline(record)            # same id, key, time; payload masked
    pipeline.totals                      # {"CREDIT_CARD": 2, ...}: counts by entity type, never values

Engines that load pipelines by name (the PyFlink job's ``pipeline`` property,
``shardline run --pipeline``) use ``pipelines.pii.pipeline:mask_record``,
configured from the environment when it is first called:

    SHARDLINE_PII_POLICY   built-in policy name (payments, generic) or a policy file   default: payments

plus whatever key variables the policy names (payments: SHARDLINE_PII_HMAC_KEY,
SHARDLINE_PII_FPE_KEY).  A policy problem (a missing key) is raised at the
first record with a ``PolicyError`` naming the variable.

Records come validated: every engine's ``pipelines.engine.RecordPath``
validates the envelope once before the pipeline, so all engines reject the
same records (each sends them to its dead-letter destination).  A map
payload is masked by field; a bytes payload must hold a UTF-8 JSON object,
which is masked in place with its untouched bytes kept (``jsontext``).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping

from pipelines.pii.jsontext import mask_json_bytes
from pipelines.pii.masker import Masker
from pipelines.pii.policy import BUILTIN_POLICIES, MaskingPolicy, builtin_policy, load_policy
from pipelines.records import Payload, Record

POLICY_VARIABLE = "SHARDLINE_PII_POLICY"
DEFAULT_POLICY = "payments"

Observer = Callable[[Mapping[str, int]], None]
"""Called once per masked record with its counts by entity type (e.g. to feed metrics)."""


def policy_from_spec(spec: str, *, environ: Mapping[str, str] | None = None) -> MaskingPolicy:
    """A built-in policy by name, or a policy file by path."""
    if spec in BUILTIN_POLICIES:
        return builtin_policy(spec, environ=environ)
    return load_policy(Path(spec), environ=environ)


@dataclass(frozen=True)
class PiiPipelineConfig:
    """How ``mask_record`` is configured; the environment is read when this object is built."""

    policy: str = field(default_factory=lambda: os.environ.get(POLICY_VARIABLE) or DEFAULT_POLICY)
    """Built-in policy name or policy file; from SHARDLINE_PII_POLICY, else payments."""


class MaskingPipeline:
    """``Record -> Record`` with the payload masked by one policy; keeps running totals by entity type.

    Not thread-safe (the masker is not): use one per worker thread.
    """

    def __init__(self, policy: MaskingPolicy | Masker, *, observe: Observer | None = None) -> None:
        self.masker = policy if isinstance(policy, Masker) else Masker(policy)
        self.observe = observe
        self.records = 0
        """Records masked so far."""
        self.totals: dict[str, int] = {}
        """Values masked so far, by entity type."""

    @property
    def policy(self) -> MaskingPolicy:
        return self.masker.policy

    def __call__(self, record: Record) -> Record:
        # The record is valid: every engine's RecordPath validated it, once, before the pipeline.
        return replace(record, payload=self.mask_payload(record.payload))

    def mask_payload(self, payload: Payload) -> Payload:
        """The payload masked (the SQL path masks payloads without building records)."""
        if isinstance(payload, bytes):
            masked, counts = mask_json_bytes(self.masker, payload)
        else:
            masked, counts = self.masker.mask(payload)
        self.records += 1
        for entity, n in counts.items():
            self.totals[entity] = self.totals.get(entity, 0) + n
        if self.observe is not None:
            self.observe(counts)
        return masked


def masking_pipeline(policy: MaskingPolicy | Masker, *, observe: Observer | None = None) -> MaskingPipeline:
    """The masking pipeline function for ``policy`` (what every engine runs)."""
    return MaskingPipeline(policy, observe=observe)


# --- the by-name entry point --------------------------------------------------------

_local = threading.local()


def default_pipeline() -> MaskingPipeline:
    """This thread's pipeline, built from ``PiiPipelineConfig()`` on first use."""
    pipeline = getattr(_local, "pipeline", None)
    if pipeline is None:
        pipeline = _local.pipeline = MaskingPipeline(policy_from_spec(PiiPipelineConfig().policy))
    return pipeline


def reset_default_pipeline() -> None:
    """Forget this thread's pipeline, so the next ``mask_record`` reads the environment again (tests)."""
    _local.pipeline = None


def mask_record(record: Record) -> Record:
    """``pipelines.pii.pipeline:mask_record``: mask with the policy named by SHARDLINE_PII_POLICY."""
    return default_pipeline()(record)
