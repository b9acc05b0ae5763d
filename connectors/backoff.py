"""Exponential backoff with full jitter, shared by the connectors that retry.

Full jitter (sleep a uniform random time in ``[0, min(cap, base * 2**n))``)
spreads retries of many writers hitting one throttled shard or table, which a
fixed exponential schedule would synchronise (AWS Architecture Blog,
"Exponential Backoff And Jitter").
"""
from __future__ import annotations

import random


def full_jitter(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
    ceiling = min(cap_s, base_s * (2 ** max(0, attempt - 1)))
    return rng.uniform(0.0, ceiling)
