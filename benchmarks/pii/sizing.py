"""Sizing PII masking on your own records: how fast a policy masks them, where the time goes, how many cores.

    shardline bench pii --policy my-policy.yaml --input sample.jsonl [--rate 50000] [--presidio] [--json]

The throughput benchmark (``benchmarks.pii.throughput``) measures shardline
on generated payments; this measures what a user's stream will cost.  Rates are
records per CPU-second of this process (one core), medians of repetitions.
Each field is also masked on its own, so the report says which fields take the
time (a free-text field scanned for every entity type usually dominates).
Given the stream's rate, it turns the rate per core into cores (Managed Flink
KPUs, 1 vCPU each) for masking alone, at the autoscaler's target utilisation;
the job's source, sink and serialisation come on top.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from benchmarks.pii.presidio_baseline import PresidioBaseline, PresidioUnavailable
from benchmarks.pii.throughput import records_per_cpu_second
from pipelines.pii import Masker, MaskingError, MaskingPolicy
from pipelines.pii.policy import KEEP
from scaling.policies.target import TargetConfig


@dataclass(frozen=True)
class SizingConfig:
    """How ``size_masking`` measures."""

    repeats: int = 5
    """Timed passes over the records; the median is reported."""
    target_utilisation: float = TargetConfig().target_utilisation
    """Share of a core masking may use when cores are counted (the autoscaler's target)."""
    presidio: bool = False
    """Also time Presidio (analyzer and anonymizer) on the fields the policy masks, for the ratio."""
    presidio_records: int = 200
    """Records Presidio masks (it runs about a hundred a second)."""
    top_fields: int = 8
    """Fields listed in the report's cost breakdown."""


def size_masking(policy: MaskingPolicy, payloads: Sequence[dict[str, Any]], config: SizingConfig = SizingConfig(),
                 rate: float | None = None) -> dict:
    """Measure ``policy`` on ``payloads``; with ``rate`` (records/s), also the cores masking needs.

    Payloads the policy cannot mask (they would be dead letters) are counted and left out of the timing.
    """
    masker = Masker(policy)
    maskable, refused = [], 0
    for payload in payloads:
        try:
            masker.mask(payload)  # also warms caches and lazily built ciphers
        except MaskingError:
            refused += 1
        else:
            maskable.append(payload)
    if not maskable:
        raise ValueError(f"none of the {len(payloads)} records could be masked with policy {policy.name!r}")
    repeats = config.repeats
    whole = _median_rate(masker.mask, maskable, repeats)
    empty = _median_rate(masker.mask, [{} for _ in maskable], repeats)
    fields: dict[str, float] = {}
    for name in dict.fromkeys(name for payload in maskable for name in payload):
        alone = [{name: p[name]} for p in maskable if name in p]
        # Per record of the sample (a field in half the records costs half), less the call's own overhead.
        seconds = len(alone) / _median_rate(masker.mask, alone, repeats) - len(alone) / empty
        fields[name] = max(seconds, 0.0) / len(maskable)
    ranked = sorted(fields.items(), key=lambda kv: -kv[1])
    result: dict[str, Any] = {
        "policy": policy.name, "records": len(payloads), "refused": refused, "repeats": repeats,
        "records_per_s_per_core": round(whole, 1), "us_per_record": round(1e6 / whole, 1),
        "field_us_per_record": {name: round(s * 1e6, 2) for name, s in ranked[:config.top_fields]},
        "other_fields_us_per_record": round(sum(s for _, s in ranked[config.top_fields:]) * 1e6, 2),
    }
    if rate is not None:
        cores = rate / whole
        result["sizing"] = {
            "rate": rate, "cores_at_full_use": round(cores, 2),
            "target_utilisation": config.target_utilisation,
            "kpus_for_masking": max(1, math.ceil(cores / config.target_utilisation - 1e-9)),
        }
    if config.presidio:
        result["presidio"] = _presidio(policy, maskable[:config.presidio_records], masker, repeats)
    return result


def _median_rate(fn: Callable[[Any], Any], items: Sequence[Any], repeats: int) -> float:
    return statistics.median(records_per_cpu_second(fn, items, repeats))


def _presidio(policy: MaskingPolicy, payloads: Sequence[dict[str, Any]], masker: Masker, repeats: int) -> dict:
    """Presidio on the fields the policy masks or scans (by name: Presidio has no per-field policy)."""
    masked = {name for name, rule in policy.fields.items() if rule.kind != KEEP}
    fields = tuple(dict.fromkeys(n for p in payloads for n in p if n in masked or policy.mode != "fields"))
    try:
        baseline = PresidioBaseline()
    except PresidioUnavailable as exc:
        return {"available": False, "reason": str(exc)}
    try:
        theirs = _median_rate(lambda p: baseline.mask(p, fields), payloads, max(1, repeats // 2))
    finally:
        baseline.close()
    ours = _median_rate(masker.mask, payloads, repeats)
    return {"available": True, "fields": list(fields), "records": len(payloads),
            "records_per_s_per_core": round(theirs, 1), "shardline_same_records_per_s": round(ours, 1),
            "ratio": round(ours / theirs, 1)}
