"""The time-series pattern on the local runner: a file of readings to a file of windows and anomalies.

    shardline ts run --input readings.jsonl --output windows.jsonl [--window 60s] [--config ts.yaml]

Each input line is an envelope whose payload is a reading, or the bare reading object.  Output lines are
closed windows (``kind`` ``window``) and anomalies (``kind`` ``anomaly``), in the order they happen; at the
end of input every window closes.  Records that are no reading go to the dead-letter file with their reason
(masked with the generic PII policy, as every engine's letters are); late readings go to
``<output>.late.jsonl``.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from connectors.dead_letter import DeadLetter
from jobs.local.runner import BadLine, masked_dead_letters, read_input
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.engine import Rejected, rejection
from pipelines.records import to_json_line
from pipelines.timeseries.config import TimeseriesConfig
from pipelines.timeseries.enrich import DeviceCatalog
from pipelines.timeseries.outputs import anomaly_line, window_line
from pipelines.timeseries.pattern import Anomaly, LateReading, TimeseriesPattern, TimeseriesStats
from pipelines.times import iso_utc
from pipelines.timeseries.windows import WindowAggregate
from pipelines.wrapping import WrapConfig

log = logging.getLogger("shardline.timeseries")
READING_TYPE = "telemetry.reading"


def load_settings(path: Path | None, overrides: dict[str, Any]) -> TimeseriesConfig:
    """The pattern's settings: the file's (YAML or JSON), then the flags given."""
    import yaml

    settings: dict[str, Any] = {}
    if path is not None:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))  # YAML reads JSON too
        if not isinstance(document, dict):
            raise ValueError(f"{path}: expected a mapping of settings")
        settings.update(document)
    settings.update({key: value for key, value in overrides.items() if value is not None})
    return TimeseriesConfig.from_dict(settings)


def load_telemetry_config(path: Path):
    """``produce --telemetry-config``: TelemetryConfig's fields from a YAML or JSON file."""
    import dataclasses

    import yaml

    from pipelines.timeseries.synthetic import TelemetryConfig

    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    known = {f.name for f in dataclasses.fields(TelemetryConfig)}
    if not isinstance(document, dict) or set(document) - known:
        raise ValueError(f"{path}: expected a mapping of {', '.join(sorted(known))}")
    if "metrics" in document:
        document["metrics"] = tuple(document["metrics"])
    return TelemetryConfig(**document)


@dataclass(frozen=True)
class TimeseriesFileRun:
    input: Path
    output: Path | None = None
    """JSON lines of windows and anomalies; None: stdout."""
    dead_letters: Path | None = None
    """Default ``<output or input>.dlq.jsonl``."""
    late: Path | None = None
    """Default ``<output or input>.late.jsonl``."""

    def _beside(self, suffix: str) -> Path:
        base = self.output or self.input
        return base.with_name(base.name + suffix)

    def dead_letter_path(self) -> Path:
        return self.dead_letters or self._beside(".dlq.jsonl")

    def late_path(self) -> Path:
        return self.late or self._beside(".late.jsonl")


def output_lines(outputs) -> Iterator[dict[str, Any]]:
    """The file lines of the pattern's outputs: windows and anomalies (readings go to the raw store)."""
    for output in outputs:
        if isinstance(output, WindowAggregate):
            yield window_line(output)
        elif isinstance(output, Anomaly):
            yield anomaly_line(output)


async def run_timeseries_file(run: TimeseriesFileRun, config: TimeseriesConfig = TimeseriesConfig(),
                              devices: DeviceCatalog | None = None,
                              clock: Clock = SYSTEM_CLOCK) -> TimeseriesStats:
    pattern = TimeseriesPattern(config, devices, clock)
    wrapping = WrapConfig(type=READING_TYPE, source=f"file:{run.input.name}")
    dead_letters = None
    late = None
    out = open(run.output, "w", encoding="utf-8") if run.output is not None else None

    def write(outputs) -> None:
        for line in output_lines(outputs):
            text = json.dumps(line, separators=(",", ":"))
            print(text) if out is None else out.write(text + "\n")

    try:
        for position, item in read_input(run.input, wrapping, clock):
            if isinstance(item, BadLine):
                pattern.stats.read += 1
                pattern.stats.rejected += 1
                outputs: list = [rejection(item.error, "decode")]
                data = item.raw
            else:
                outputs = pattern.on_record(item)
                data = None
            for output in outputs:
                if isinstance(output, Rejected):
                    if dead_letters is None:
                        dead_letters = masked_dead_letters(run.dead_letter_path(), quiet=True)
                    raw = data if data is not None else to_json_line(item).encode()
                    await dead_letters.put(DeadLetter.of(output, position, raw, clock.time()))
                elif isinstance(output, LateReading):
                    if late is None:
                        late = open(run.late_path(), "w", encoding="utf-8")
                    reading = output.reading
                    late.write(json.dumps({"series": reading.series, "event_time": iso_utc(reading.event_time),
                                           "value": reading.value, "watermark": iso_utc(output.watermark),
                                           "source": position}, separators=(",", ":")) + "\n")
            write(outputs)
        write(pattern.finish())
    finally:
        for handle in (out, late):
            if handle is not None:
                handle.close()
        if dead_letters is not None:
            await dead_letters.close()
    if pattern.stats.rejected:
        log.warning("event=timeseries_rejected count=%d dead_letters=%s", pattern.stats.rejected,
                    run.dead_letter_path())
    return pattern.stats
