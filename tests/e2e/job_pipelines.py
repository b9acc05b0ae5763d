"""Pipelines the e2e tests give a Flink job by name (``pipeline = tests.e2e.job_pipelines:...``): a job's Python
workers import them, so this module imports nothing of the test suite's."""
from __future__ import annotations

from dataclasses import replace

from pipelines.examples.clicks import enrich_clicks
from pipelines.records import Record


def padded_clicks(record: Record) -> Record | None:
    """The README's click pipeline, but a click whose payload asks for ``pad`` characters gets them: a small
    record in, an output too large for a Kinesis record out (the size check each engine makes on outputs)."""
    enriched = enrich_clicks(record)
    pad = record.payload.get("pad") if isinstance(record.payload, dict) else None
    if enriched is None or not isinstance(pad, int):
        return enriched
    return replace(enriched, payload={**enriched.payload, "padding": "x" * pad})
