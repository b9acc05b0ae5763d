"""Keeping live streams live: degrade a stream that falls behind, and admit no more streams than fit.

A live segment must be transcoded within ``deadline_fraction`` (0.9) of its
duration, or the stream drifts behind its source.  A stream that misses the
deadline steps down a level: first a faster preset, then also without its top
rung.  It steps back up after ``recover_after`` segments in a row that took
under ``recover_fraction`` of their duration.

>>> governor = StreamGovernor(GovernorConfig(recover_after=2), preset="veryfast", faster_preset="superfast")
>>> governor.settings()
('veryfast', False)
>>> governor.record(wall_s=1.95, duration_s=2.0), governor.settings()
('degraded', ('superfast', False))
>>> governor.record(wall_s=1.9, duration_s=2.0), governor.settings()
('degraded', ('superfast', True))
>>> governor.record(1.0, 2.0), governor.record(1.0, 2.0), governor.settings()
(None, 'recovered', ('superfast', False))
>>> governor.counts
{'degraded': 2, 'recovered': 1, 'late_segments': 2}
>>> admission = Admission(max_streams=1)
>>> admission.admit("cam-1"), admission.admit("cam-1"), admission.admit("cam-2")
(True, True, False)
>>> admission.release("cam-1"); admission.admit("cam-2")
True
"""
from __future__ import annotations

from dataclasses import dataclass, field

LEVELS = ("normal", "faster_preset", "faster_preset_without_top_rung")


@dataclass(frozen=True)
class GovernorConfig:
    deadline_fraction: float = 0.9
    """A segment that takes longer than this fraction of its duration is late, and its stream degrades."""
    recover_fraction: float = 0.6
    """A segment under this fraction of its duration counts towards stepping back up."""
    recover_after: int = 5
    """Segments in a row under ``recover_fraction`` before a degraded stream steps back up a level."""
    enabled: bool = True
    """False for offline transcoding, where no segment has a deadline."""

    def __post_init__(self) -> None:
        if not 0 < self.recover_fraction < self.deadline_fraction <= 1:
            raise ValueError("GovernorConfig needs 0 < recover_fraction < deadline_fraction <= 1")
        if self.recover_after < 1:
            raise ValueError("GovernorConfig.recover_after must be at least 1")


@dataclass
class StreamGovernor:
    config: GovernorConfig
    preset: str
    faster_preset: str
    level: int = 0
    _fast_in_a_row: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"degraded": 0, "recovered": 0, "late_segments": 0})

    def settings(self) -> tuple[str, bool]:
        """(preset, drop_top_rung) for the next segment."""
        return (self.preset if self.level == 0 else self.faster_preset), self.level >= 2

    def record(self, wall_s: float, duration_s: float) -> str | None:
        """Account for one transcoded segment; 'degraded' or 'recovered' when the level changed."""
        if not self.config.enabled:
            return None
        share = wall_s / duration_s
        if share > self.config.deadline_fraction:
            self.counts["late_segments"] += 1
            self._fast_in_a_row = 0
            if self.level < len(LEVELS) - 1:
                self.level += 1
                self.counts["degraded"] += 1
                return "degraded"
            return None
        self._fast_in_a_row = self._fast_in_a_row + 1 if share < self.config.recover_fraction else 0
        if self.level > 0 and self._fast_in_a_row >= self.config.recover_after:
            self.level -= 1
            self._fast_in_a_row = 0
            self.counts["recovered"] += 1
            return "recovered"
        return None


@dataclass
class Admission:
    """Admit up to ``max_streams`` videos at once (0: no limit); a refused video's parts are dead-lettered."""

    max_streams: int = 0
    active: set[str] = field(default_factory=set)
    refused: int = 0

    def admit(self, video_id: str) -> bool:
        if video_id in self.active:
            return True
        if self.max_streams and len(self.active) >= self.max_streams:
            self.refused += 1
            return False
        self.active.add(video_id)
        return True

    def release(self, video_id: str) -> None:
        self.active.discard(video_id)
