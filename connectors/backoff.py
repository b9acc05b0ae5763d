"""Exponential backoff with full jitter, shared by the connectors that retry.

Full jitter (sleep a uniform random time in ``[0, min(cap, base * 2**n))``)
spreads retries of many writers hitting one throttled shard or table, which a
fixed exponential schedule would synchronise (AWS Architecture Blog,
"Exponential Backoff And Jitter").
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any


_RNG = random.Random()


def full_jitter(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Seconds to wait before retry number ``attempt`` (1 for the first retry)."""
    ceiling = min(cap_s, base_s * (2 ** max(0, attempt - 1)))
    return rng.uniform(0.0, ceiling)


@dataclass(frozen=True)
class BackpressureConfig:
    """How an engine waits when a sink pushes back (``SinkBackpressureError``): the runner and KCL share it."""

    base_s: float = 0.2
    """The first wait is up to this long (full jitter, doubling per push-back), or the sink's retry_after."""
    cap_s: float = 5.0
    """No single wait is longer than this."""
    max_wait_s: float = 300.0
    """Give up (fatal: nothing is checkpointed past the record) when one record waits longer than this."""


class BackpressureTimeout(RuntimeError):
    """A sink pushed back on one record for longer than ``max_wait_s``."""


async def add_with_backpressure(sink: Any, item: Any, clock: Any, config: BackpressureConfig = BackpressureConfig(),
                                rng: random.Random | None = None, where: str = "") -> None:
    """``sink.add(item)``, waiting with jitter while the sink pushes back; the engine decides, not the sink."""
    from connectors.sinks.types import SinkBackpressureError

    waited, attempt = 0.0, 0
    rng = rng or _RNG
    while True:
        try:
            await sink.add(item)
            return
        except SinkBackpressureError as exc:
            attempt += 1
            if waited >= config.max_wait_s:
                raise BackpressureTimeout(f"the sink pushed back for {waited:.0f}s{where}; is its destination "
                                          "reachable and provisioned?") from exc
            delay = max(exc.retry_after, full_jitter(attempt, config.base_s, config.cap_s, rng))
            await clock.sleep(delay)
            waited += delay
