"""A KCL record processor that appends every record to a JSON-lines file.

Used by the KCL end-to-end test and handy for looking at a stream::

    KclConfig(stream_name="orders", application_name="peek",
              executable=python_processor("jobs.kcl.consume_to_file", "--output", "/tmp/orders.jsonl"))

One line per record: ``data`` (UTF-8 text, or null when the bytes are not
text), ``data_b64``, ``partition_key``, ``sequence_number``,
``sub_sequence_number``, ``shard_id``, ``arrival_time`` and ``worker_id``
(from SHARDLINE_KCL_WORKER_ID, which ``run_daemon`` sets).  Every processor of
every worker may append to the same file: each flush is one ``write`` on an
``O_APPEND`` descriptor, which Linux keeps whole.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
from pathlib import Path
from typing import Iterator

from connectors.kcl.daemon import WORKER_ID_VARIABLE
from connectors.kcl.processor import PipelineRecordProcessor, configure_stderr_logging, run_processor
from connectors.kinesis.batches import ConsumedRecord

OUTPUT_VARIABLE = "SHARDLINE_KCL_OUTPUT"


class AppendJsonLines:
    """A sink of dicts: buffered by ``add``, appended by ``flush`` in one write."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lines: list[bytes] = []
        self._fd: int | None = None

    async def add(self, item: dict) -> None:
        self._lines.append(json.dumps(item, separators=(",", ":")).encode("utf-8") + b"\n")

    async def flush(self) -> None:
        if not self._lines:
            return
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        payload = b"".join(self._lines)
        written = os.write(self._fd, payload)
        if written != len(payload):  # a short write to a regular file means the disk is full
            raise OSError(f"short write to {self.path}: {written} of {len(payload)} bytes")
        os.fsync(self._fd)
        self._lines.clear()

    async def close(self) -> None:
        await self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def describe(worker_id: str | None):
    def pipeline(record: ConsumedRecord) -> Iterator[dict]:
        try:
            text: str | None = record.data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        yield {"data": text, "data_b64": base64.b64encode(record.data).decode("ascii"),
               "partition_key": record.partition_key, "sequence_number": record.sequence_number,
               "sub_sequence_number": record.sub_sequence_number, "shard_id": record.shard_id,
               "arrival_time": record.arrival_time, "worker_id": worker_id}
    return pipeline


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.environ.get(OUTPUT_VARIABLE),
                        help=f"JSON-lines file to append to (default: ${OUTPUT_VARIABLE})")
    args = parser.parse_args(argv)
    if not args.output:
        parser.error(f"give --output or set {OUTPUT_VARIABLE}")
    configure_stderr_logging()
    run_processor(PipelineRecordProcessor(describe(os.environ.get(WORKER_ID_VARIABLE)), AppendJsonLines(args.output)))


if __name__ == "__main__":
    main()
