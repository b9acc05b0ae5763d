"""Your own pipeline, all of it: enrich click events, drop the bots.

A pipeline is a plain function: a ``Record`` in; a ``Record``, an iterable of
them, or ``None`` (dropped) out.  It does no I/O and imports no engine, so the
local runner, the KCL processor and the PyFlink job all run it unchanged.  A
record it cannot use raises an error: ``pipelines.errors.FieldError`` (for
example ``RecordValidationError``) when the reason is ours to give, naming
the field; anything else is reported by its type alone, because its message
might quote the record.

>>> from pipelines.records import validate
>>> def click(**payload):
...     return validate({"id": "c1", "type": "click", "source": "web", "event_time": 1767225600000,
...                      "partition_key": "u-7", "payload": payload})
>>> enriched = enrich_clicks(click(user="u-7", page="/pricing/teams?ref=spring-ad", agent="Mozilla/5.0"))
>>> enriched.type, enriched.payload["section"], enriched.payload["campaign"]
('click.enriched', 'pricing', 'spring-ad')
>>> enrich_clicks(click(user="u-8", page="/", agent="Googlebot/2.1")) is None
True
>>> enrich_clicks(click(user="u-9"))
Traceback (most recent call last):
...
pipelines.records.RecordValidationError: field 'payload.page': is required (a click names its page)
"""
from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qsl

from pipelines.records import Record, RecordValidationError

BOT_MARKERS = ("bot", "crawler", "spider", "headless")
"""User agents holding any of these (case-insensitive) are automated: their clicks are dropped."""


def enrich_clicks(record: Record) -> Record | None:
    """The click with its site section and campaign added; None for a bot's click."""
    payload = record.payload
    if not isinstance(payload, dict) or not isinstance(payload.get("page"), str):
        raise RecordValidationError("payload.page", "is required (a click names its page)")
    agent = str(payload.get("agent") or "").lower()
    if any(marker in agent for marker in BOT_MARKERS):
        return None
    path, _, query = payload["page"].partition("?")
    section = path.strip("/").split("/")[0] or "home"
    campaign = dict(parse_qsl(query)).get("ref")
    return replace(record, type="click.enriched", payload={**payload, "section": section, "campaign": campaign})
