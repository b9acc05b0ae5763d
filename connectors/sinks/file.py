"""A local JSON-lines (or Avro) file as a sink: for `shardline run --sink out.jsonl` and offline checks."""
from __future__ import annotations

from pathlib import Path

from pipelines.records import Record, to_json_line, write_avro_file


class FileSink:
    """Appends each flushed batch to a JSON-lines file; ``.avro`` files are written whole on close."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._pending: list[Record] = []
        self._avro = self.path.suffix == ".avro"
        self._written: list[Record] = []
        self.count = 0

    async def add(self, record: Record) -> None:
        self._pending.append(record)

    async def flush(self) -> None:
        if not self._pending:
            return
        if self._avro:
            self._written.extend(self._pending)
        else:
            with open(self.path, "a", encoding="utf-8") as fo:
                fo.writelines(to_json_line(r) + "\n" for r in self._pending)
        self.count += len(self._pending)
        self._pending = []

    async def close(self) -> None:
        await self.flush()
        if self._avro:
            with open(self.path, "wb") as fo:
                write_avro_file(fo, self._written)
