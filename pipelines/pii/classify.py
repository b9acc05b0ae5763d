"""Glue-style column classification for schemas nobody wrote a policy for.

AWS Glue's Detect PII samples a fraction of the rows, scans each column's
values and labels a column with an entity type when the share of sampled values
holding it passes a threshold.  A stream has no "all rows", so the counts here
grow as records arrive and a label appears once a column has ``min_samples``
sampled values.  In the masker labels are sticky: a labelled column is masked
whole and no longer sampled, so a run of odd values can never unmask it.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Iterable, Mapping

from pipelines.pii.entities import entity_for_field_name
from pipelines.pii.policy import ClassifySettings
from pipelines.pii.scanner import Scanner
from pipelines.pii.values import NOT_TEXT, text_of

# A stream with arbitrary field names must not grow this without bound.
_MAX_COLUMNS = 10_000


@dataclass
class ColumnStats:
    """What sampling has seen in one column."""

    samples: int = 0
    #: Sampled values holding each entity type (a value counts once per type).
    entities: dict[str, int] = field(default_factory=dict)
    label: str | None = None


class ColumnClassifier:
    """Decides which records to sample and labels columns from what their sampled values held.

    ``rng`` is any zero-argument callable returning a float in [0, 1) (e.g.
    ``random.Random(7).random``), so tests and replays are reproducible.
    """

    def __init__(self, settings: ClassifySettings, rng: Callable[[], float] | None = None) -> None:
        self.settings = settings
        self._random = rng if rng is not None else random.Random().random
        self._columns: dict[str, ColumnStats] = {}

    def should_sample(self) -> bool:
        """Called once per record: scan this record's unlabelled columns to classify them?"""
        return self._random() < self.settings.sample

    def observe(self, column: str, entities: Collection[str]) -> None:
        """Record one sampled value of ``column`` and the entity types found in it."""
        stats = self._columns.get(column)
        if stats is None:
            if len(self._columns) >= _MAX_COLUMNS:
                return
            stats = self._columns[column] = ColumnStats()
        stats.samples += 1
        for entity in set(entities):
            stats.entities[entity] = stats.entities.get(entity, 0) + 1
        stats.label = self._label(stats)

    def _label(self, stats: ColumnStats) -> str | None:
        if stats.samples < self.settings.min_samples or not stats.entities:
            return None
        entity, hits = max(stats.entities.items(), key=lambda kv: (kv[1], kv[0]))
        return entity if hits / stats.samples >= self.settings.threshold else None

    def label(self, column: str) -> str | None:
        stats = self._columns.get(column)
        return stats.label if stats is not None else None

    def labels(self) -> dict[str, str]:
        return {name: s.label for name, s in self._columns.items() if s.label is not None}

    def report(self) -> dict[str, ColumnStats]:
        """Per column: samples, entity counts and label (for ``shardline pii scan``)."""
        return {name: ColumnStats(s.samples, dict(s.entities), s.label) for name, s in self._columns.items()}


def classify_columns(records: Iterable[Mapping[str, Any]], scanner: Scanner, settings: ClassifySettings, *,
                     rng: Callable[[], float] | None = None, field_hints: bool = True) -> dict[str, ColumnStats]:
    """Sample ``records`` and report, per column, the entity types found with counts and the label.

    What ``shardline pii scan --sample S --threshold T`` prints.  With
    ``field_hints`` a column named like ``first_name`` is labelled by its name.
    """
    classifier = ColumnClassifier(settings, rng)
    hinted: dict[str, str] = {}
    for record in records:
        if not classifier.should_sample():
            continue
        for name, value in record.items():
            text = text_of(name, value)
            if text is NOT_TEXT or text == "":
                continue
            classifier.observe(name, [m.entity for m in scanner.scan(text)])
            if field_hints and name not in hinted:
                hint = entity_for_field_name(name)
                if hint is not None:
                    hinted[name] = hint
    report = classifier.report()
    for name, entity in hinted.items():
        if name in report:
            report[name].label = entity
    return report
