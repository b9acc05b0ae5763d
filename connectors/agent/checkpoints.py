"""The agent's checkpoints: one SQLite row per tracked file, durable across reboots.

A row is keyed by (flow, device, inode) and holds the file's fingerprint, the
path it was last seen at, and the offset just past the last *acknowledged*
record, with a hash of the bytes before that offset (``tail_hash``) and of
the file's first bytes (``head_hash``), so a copy made by copytruncate can be
recognised after a crash.  The agent writes the row when it starts tracking a
file (offset = where it starts reading, before any record of the file is
sent: that is what makes record ids stable across crashes) and again each
time a batch is acknowledged.  Never on read.

Why SQLite (stdlib ``sqlite3``): atomic multi-row commits and WAL, so a crash
mid-write leaves the previous checkpoint; a hand-written file format would
have to reinvent both.  The database lives in the state directory, by default
under ``$XDG_STATE_HOME`` (not /var/run, which is wiped on reboot).
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tracked_files (
    flow        INTEGER NOT NULL,
    device      INTEGER NOT NULL,
    inode       INTEGER NOT NULL,
    generation  INTEGER NOT NULL,
    fingerprint TEXT    NOT NULL,
    head_len    INTEGER NOT NULL,
    head_hash   TEXT    NOT NULL,
    path        TEXT    NOT NULL,
    offset      INTEGER NOT NULL,
    tail_hash   TEXT    NOT NULL,
    live        INTEGER NOT NULL,
    updated_at  REAL    NOT NULL,
    PRIMARY KEY (flow, device, inode)
)
"""


@dataclass(frozen=True)
class FileCheckpoint:
    flow: int
    device: int
    inode: int
    generation: int
    """Times this inode was truncated or reused: part of the fingerprint, so ids never repeat."""
    fingerprint: str
    head_len: int
    head_hash: str
    path: str
    offset: int
    """Bytes before this offset were acknowledged (or skipped); reading resumes here."""
    tail_hash: str
    """Hash of the (up to) 1 KiB before ``offset``: recognises a copy of the file."""
    live: bool
    """False once the file is gone or finished; kept until the TTL for copy detection and inode reuse."""
    updated_at: float


class CheckpointStore:
    """The agent's checkpoint database (one writer: the agent process)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None)  # explicit transactions below
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a checkpoint that says "acknowledged" must survive a power cut, or lines would be skipped.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def load(self, flow: int) -> list[FileCheckpoint]:
        rows = self._db.execute("SELECT * FROM tracked_files WHERE flow = ?", (flow,)).fetchall()
        return [FileCheckpoint(*row[:10], live=bool(row[10]), updated_at=row[11]) for row in rows]

    def save(self, checkpoints: Iterable[FileCheckpoint]) -> None:
        """Write these rows in one transaction (all or none)."""
        rows = [(c.flow, c.device, c.inode, c.generation, c.fingerprint, c.head_len, c.head_hash, c.path, c.offset,
                 c.tail_hash, int(c.live), c.updated_at) for c in checkpoints]
        if not rows:
            return
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO tracked_files VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def prune(self, older_than: float) -> int:
        """Forget files that are gone and were last touched before ``older_than`` (epoch seconds)."""
        with self._transaction():
            cursor = self._db.execute("DELETE FROM tracked_files WHERE live = 0 AND updated_at < ?", (older_than,))
        return cursor.rowcount

    def _transaction(self):
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
