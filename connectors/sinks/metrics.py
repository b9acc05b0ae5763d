"""Prometheus metrics shared by every sink, labelled by sink kind (never by record data)."""
from __future__ import annotations

import weakref
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter

# One set per registry: several sinks of one kind in a process share the series.
_BY_REGISTRY: "weakref.WeakKeyDictionary[CollectorRegistry, SinkMetrics]" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class SinkMetrics:
    written: Counter
    retried: Counter
    dead_lettered: Counter
    backpressure: Counter

    @classmethod
    def for_registry(cls, registry: CollectorRegistry | None = None) -> "SinkMetrics":
        registry = registry or REGISTRY
        metrics = _BY_REGISTRY.get(registry)
        if metrics is None:
            metrics = cls(
                written=Counter("shardline_sink_records_written", "Records the service accepted.",
                                ["sink"], registry=registry),
                retried=Counter("shardline_sink_records_retried", "Record writes retried after a refusal.",
                                ["sink"], registry=registry),
                dead_lettered=Counter("shardline_sink_records_dead_lettered",
                                      "Records given up on (invalid or out of attempts), by error code.",
                                      ["sink", "error_type"], registry=registry),
                backpressure=Counter("shardline_sink_backpressure_events",
                                     "add() calls refused with SinkBackpressureError.", ["sink"], registry=registry),
            )
            _BY_REGISTRY[registry] = metrics
        return metrics
