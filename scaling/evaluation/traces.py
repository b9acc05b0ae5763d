"""Input-rate traces lambda(t) for the simulator: built-in shapes and user CSV files.

A trace is piecewise linear between its points. A user trace is a CSV with the header
``t_seconds,records_per_second``, times strictly increasing from any start, rates >= 0.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scaling.errors import TraceError

BUILTIN_TRACES = ("step", "ramp", "diurnal", "spike", "noisy")
CSV_HEADER = ("t_seconds", "records_per_second")


@dataclass(frozen=True)
class Trace:
    name: str
    times: np.ndarray = field(repr=False, compare=False)
    """Seconds from the trace's start, strictly increasing, first = 0."""
    rates: np.ndarray = field(repr=False, compare=False)
    """records/s at each time."""

    @classmethod
    def from_points(cls, name: str, points: list[tuple[float, float]]) -> "Trace":
        if len(points) < 2:
            raise TraceError(f"trace {name!r} needs at least two points")
        times = np.array([p[0] for p in points], dtype=float)
        rates = np.array([p[1] for p in points], dtype=float)
        if not (np.all(np.isfinite(times)) and np.all(np.isfinite(rates))):
            raise TraceError(f"trace {name!r} has a non-finite value")
        if np.any(np.diff(times) <= 0):
            raise TraceError(f"trace {name!r}: times must strictly increase")
        if np.any(rates < 0):
            raise TraceError(f"trace {name!r}: rates must be >= 0")
        return cls(name, times - times[0], rates)

    @property
    def duration(self) -> float:
        return float(self.times[-1])

    @property
    def peak(self) -> float:
        return float(self.rates.max())

    def rate_at(self, t: float | np.ndarray) -> float | np.ndarray:
        return np.interp(t, self.times, self.rates)


def load_csv(path: str | Path) -> Trace:
    path = Path(path)
    points: list[tuple[float, float]] = []
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != CSV_HEADER:
            raise TraceError(f"{path}: line 1 must be the header {','.join(CSV_HEADER)}, got {header}")
        for line, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != 2:
                raise TraceError(f"{path}: line {line}: expected 2 columns, got {len(row)}")
            try:
                t, rate = float(row[0]), float(row[1])
            except ValueError as exc:
                raise TraceError(f"{path}: line {line}: not a number ({exc})") from exc
            if not (math.isfinite(t) and math.isfinite(rate)) or rate < 0:
                raise TraceError(f"{path}: line {line}: need a finite time and a rate >= 0")
            if points and t <= points[-1][0]:
                raise TraceError(f"{path}: line {line}: time {t} does not increase")
            points.append((t, rate))
    return Trace.from_points(path.stem, points)


def builtin_trace(name: str, seed: int = 7) -> Trace:
    """The benchmark's shapes. Rates are sized for 1,000 records/s per KPU: 5-35 KPUs."""
    hour = 3600.0
    if name == "step":
        return Trace.from_points("step", [(0, 8000), (hour, 8000), (hour + 1, 20000), (4 * hour, 20000)])
    if name == "ramp":
        pts = [(0, 5000), (hour, 5000), (4 * hour, 30000), (5 * hour, 30000), (7 * hour, 5000), (8 * hour, 5000)]
        return Trace.from_points("ramp", pts)
    if name == "diurnal":
        t = np.arange(0, 24 * hour + 1, 60.0)
        rate = 17500 - 12500 * np.cos(2 * np.pi * t / (24 * hour))
        return Trace.from_points("diurnal", list(zip(t, rate)))
    if name == "spike":
        pts = [(0, 10000), (2 * hour, 10000), (2 * hour + 60, 30000), (2 * hour + 660, 30000), (2 * hour + 720, 10000),
               (4 * hour, 10000), (4 * hour + 60, 25000), (4.5 * hour + 60, 25000), (4.5 * hour + 120, 10000), (6 * hour, 10000)]
        return Trace.from_points("spike", pts)
    if name == "noisy":
        rng = np.random.default_rng(seed)
        t = np.arange(0, 12 * hour + 1, 60.0)
        noise = np.zeros_like(t)
        for i in range(1, len(t)):  # AR(1): minute-to-minute jitter that persists a few minutes
            noise[i] = 0.8 * noise[i - 1] + rng.normal(0.0, 0.06)
        rate = 15000 * (1 + 0.3 * np.sin(2 * np.pi * t / (6 * hour))) * (1 + noise)
        return Trace.from_points("noisy", list(zip(t, np.maximum(rate, 0.0))))
    raise TraceError(f"unknown trace {name!r}: use one of {', '.join(BUILTIN_TRACES)} or a CSV file")


def resolve_trace(name_or_path: str, seed: int = 7) -> Trace:
    """A built-in name, or a path to a ``t_seconds,records_per_second`` CSV."""
    if name_or_path in BUILTIN_TRACES:
        return builtin_trace(name_or_path, seed)
    path = Path(name_or_path)
    if path.suffix.lower() == ".csv" or path.exists():
        if not path.exists():
            raise TraceError(f"trace file {path} does not exist")
        return load_csv(path)
    raise TraceError(f"unknown trace {name_or_path!r}: use one of {', '.join(BUILTIN_TRACES)} or a CSV file")
