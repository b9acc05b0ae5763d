"""Device metadata joined to each reading, from a table reloaded on an interval.

The table comes from a loader the engine passes in (a file, an S3 object or a DynamoDB table: see
``connectors.timeseries_devices``), so this module does no I/O.  An unknown device passes through marked
(``known`` False), never dropped; a reload that fails keeps the table it had, and says so once per failure.

>>> from pipelines.clock import FakeClock
>>> clock = FakeClock()
>>> tables = iter([{"d-1": Device("berlin", "tx-9", "ops")}, {}])
>>> catalog = DeviceCatalog(lambda: next(tables), refresh_s=60, clock=clock)
>>> catalog.lookup("d-1").site, catalog.lookup("d-2")
('berlin', None)
>>> clock.advance(61); catalog.lookup("d-1") is None
True
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Mapping

from pipelines.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger("shardline.timeseries.enrich")


@dataclass(frozen=True, slots=True)
class Device:
    site: str | None = None
    model: str | None = None
    owner_team: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> "Device":
        return cls(*(None if row.get(name) in (None, "") else str(row[name])
                     for name in ("site", "model", "owner_team")))


DeviceLoader = Callable[[], Mapping[str, Device]]


class DeviceCatalog:
    """``lookup(device_id)``: the device's metadata, or None; the table is reloaded every ``refresh_s``."""

    def __init__(self, load: DeviceLoader, refresh_s: float = 300.0, clock: Clock = SYSTEM_CLOCK) -> None:
        self.load = load
        self.refresh_s = refresh_s
        self.clock = clock
        self.failed_reloads = 0
        self._table: Mapping[str, Device] = load()  # the first load must work: no table is a setup error
        self._loaded_at = clock.monotonic()

    def lookup(self, device_id: str) -> Device | None:
        if self.clock.monotonic() - self._loaded_at >= self.refresh_s:
            self._reload()
        return self._table.get(device_id)

    def _reload(self) -> None:
        self._loaded_at = self.clock.monotonic()
        try:
            self._table = self.load()
        except Exception as exc:  # noqa: BLE001 - a source down for a while must not stop the stream
            self.failed_reloads += 1
            log.warning("event=device_table_reload_failed error=%s kept_devices=%d", type(exc).__name__,
                        len(self._table))
