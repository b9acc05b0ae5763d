"""A local JSON-lines (or Avro) file as a sink: for `shardline run --sink out.jsonl` and offline checks."""
from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from pipelines.records import AvroFileWriter, Record, to_json_line


class FileSink:
    """Writes each flushed batch to a JSON-lines file, or as one block of an ``.avro`` container file.

    Whatever ``flush`` returned from is on disk, so the runner's checkpoint after a flush
    holds.  JSON lines are appended to what the file already holds (a restarted stream run
    carries on); ``truncate=True`` starts the file afresh, as a file-to-file run does.  An
    Avro file is always started afresh: its header is written when the sink opens it.
    """

    def __init__(self, path: str | Path, *, truncate: bool = False) -> None:
        self.path = Path(path)
        self._avro = self.path.suffix == ".avro"
        self._mode = "wb" if self._avro else ("w" if truncate else "a")
        self._fo: IO[Any] | None = None
        self._avro_writer: AvroFileWriter | None = None
        self._pending: list[Record] = []
        self.count = 0

    async def add(self, record: Record) -> None:
        self._pending.append(record)

    def _open(self) -> None:
        if self._fo is None:
            self._fo = open(self.path, self._mode, **({} if self._avro else {"encoding": "utf-8"}))
            if self._avro:
                self._avro_writer = AvroFileWriter(self._fo)

    async def flush(self) -> None:
        if not self._pending:
            return
        self._open()
        if self._avro_writer is not None:
            for record in self._pending:
                self._avro_writer.write(record)
            self._avro_writer.flush()
        else:
            self._fo.writelines(to_json_line(r) + "\n" for r in self._pending)  # type: ignore[union-attr]
            self._fo.flush()  # type: ignore[union-attr]
        self.count += len(self._pending)
        self._pending = []

    async def close(self) -> None:
        await self.flush()
        self._open()  # a run that wrote nothing still leaves a (valid, empty) file behind
        self._fo.close()  # type: ignore[union-attr]
