"""Following the files of one flow: discovery, rotation, truncation, records with stable ids.

Identity.  A file is tracked by (device, inode) and read through a descriptor
kept open, so a file renamed or deleted under us is still read to its end.
Its *fingerprint* hashes the device, inode, a generation number and the
file's first bytes (up to 1 KiB, as many as there were when it was first
seen); each record's id is ``<fingerprint>:<byte offset of its start>``.  The
fingerprint is written to the checkpoint database before any record carrying
it is sent, so after a crash the same bytes get the same ids and downstream
consumers can drop the duplicates a crash causes.

Rotation, case by case:

- rename (logrotate's default): the inode moves to ``app.log.1``; we keep
  reading it through the descriptor to its end, and pick up the new
  ``app.log`` (a new inode, read from offset 0).
- copytruncate: ``app.log`` is copied to ``app.log.1`` and truncated.  The
  copy is a new inode whose first bytes, and bytes before our last
  checkpointed offset, are those of the original: it continues the original
  (same fingerprint, from that offset), so lines written between our last
  read and the copy are read from the copy, with the ids they would have
  had.  The truncated original (size below our offset) restarts at 0 as a
  new generation: a new fingerprint, so new ids, and no loop.
- delete and recreate: the deleted file is read to its end through the
  descriptor; the new file is a new inode.  An inode number reused while we
  were down is told apart by its first bytes, and gets a new generation.
- late files: the glob is rescanned every ``rescan_s``, and at once when a
  tracked path changes inode or a file shrinks.

A file that left the glob (renamed out of it or deleted) is retired once it
was read to its end and has not grown for ``RETIRE_GRACE_S`` (a writer may
still be appending to it just after rotation).
"""
from __future__ import annotations

import glob
import hashlib
import logging
import os
import re
from dataclasses import dataclass, field

from connectors.agent.checkpoints import FileCheckpoint
from connectors.agent.config import FlowConfig
from pipelines.clock import SYSTEM_CLOCK, Clock

log = logging.getLogger("shardline.agent.tailer")

FINGERPRINT_BYTES = 1024
"""How much of a file's start identifies it."""
TAIL_BYTES = 1024
"""How much before the checkpointed offset must match for a new file to count as a copy."""
READ_CHUNK_BYTES = 1024 * 1024
"""Largest read from one file in one pass (so one busy file does not starve the others)."""
RETIRE_GRACE_S = 2.0
"""How long a file out of the glob must sit at its end, not growing, before it is closed."""
NEW_FILE_SETTLE_S = 0.25
"""A file that appears while we run is opened at once (a delete loses nothing) but classified this long
after: a copy still being written (copytruncate) is shorter than the offset it must be matched at."""
COPY_SETTLE_MAX_S = 30.0
"""Longest wait for a file that starts like a tracked one but is shorter than its checkpoint (a slow copy)."""
KINESIS_KEY_ROOM = 256
"""Bytes kept free under Kinesis' 1 MiB record limit for the partition key (the record id)."""


def _hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def fingerprint_of(device: int, inode: int, generation: int, head: bytes) -> str:
    return hashlib.blake2b(b"%d:%d:%d:" % (device, inode, generation) + head, digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class TailRecord:
    id: str
    """``<fingerprint>:<offset>``: the same for the same bytes across retries, restarts and crashes."""
    data: bytes
    """The record's bytes as read (newline included), cut to the destination's limit if longer."""
    truncated: bool


class _Splitter:
    """Turns a file's bytes into records: lines, or multi-line groups; long ones cut to ``limit`` bytes."""

    def __init__(self, start: int, limit: int, terminator: bytes, multi_line: re.Pattern | None,
                 skip_lines: int, footer: re.Pattern | None) -> None:
        self.limit, self.terminator, self.multi_line, self.footer = limit, terminator, multi_line, footer
        self.line_start = start          # where the current, unterminated line starts
        self.partial = bytearray()       # its first `limit` bytes
        self.partial_len = 0             # its real length
        self.skip_lines = skip_lines
        self.group: list[bytes] = []     # multi-line: the lines of the record being assembled
        self.group_start = start
        self.group_len = 0
        self.ended = False               # a footer line was seen: the rest of the file is ignored

    @property
    def consumed(self) -> int:
        """Bytes before this offset are sent, skipped or in a record already handed out."""
        return self.group_start if self.group else self.line_start

    def feed(self, chunk: bytes, fingerprint: str, out: list[TailRecord]) -> None:
        limit, pos, size = self.limit, 0, len(chunk)
        while pos < size and not self.ended:
            newline = chunk.find(b"\n", pos)
            if newline < 0:
                self._keep(chunk[pos:])
                return
            piece = chunk[pos:newline + 1]
            pos = newline + 1
            if self.partial_len:
                self._keep(piece)
                piece, length = bytes(self.partial), self.partial_len
                self.partial, self.partial_len = bytearray(), 0
            else:
                length = len(piece)
            start = self.line_start
            self.line_start += length
            self._line(start, piece, length > limit or len(piece) > limit, fingerprint, out)

    def _keep(self, piece: bytes) -> None:
        room = self.limit - len(self.partial)
        if room > 0:
            self.partial += piece[:room]
        self.partial_len += len(piece)

    def _line(self, start: int, line: bytes, too_long: bool, fingerprint: str, out: list[TailRecord]) -> None:
        if self.skip_lines:
            self.skip_lines -= 1
            return
        if self.footer is not None and self.footer.search(line.decode("utf-8", "replace")):
            self.flush_group(fingerprint, out)
            self.ended = True
            return
        if self.multi_line is None:
            out.append(self._record(fingerprint, start, line, too_long))
            return
        if self.group and self.multi_line.match(line.decode("utf-8", "replace")):
            self.flush_group(fingerprint, out)
        if not self.group:
            self.group_start = start
        if self.group_len < self.limit:
            self.group.append(line)
        self.group_len += len(line) if not too_long else self.limit + 1

    def flush_group(self, fingerprint: str, out: list[TailRecord]) -> None:
        if self.group:
            data = b"".join(self.group)
            out.append(self._record(fingerprint, self.group_start, data, self.group_len > self.limit))
            self.group, self.group_len = [], 0

    def flush_partial(self, fingerprint: str, out: list[TailRecord]) -> None:
        """The file is finished: its last line, if unterminated, is a record as it is."""
        if self.partial_len and not self.ended:
            data, length = bytes(self.partial), self.partial_len
            self.partial, self.partial_len = bytearray(), 0
            start = self.line_start
            self.line_start += length
            self._line(start, data, length > self.limit, fingerprint, out)
        self.flush_group(fingerprint, out)

    def _record(self, fingerprint: str, start: int, data: bytes, too_long: bool) -> TailRecord:
        if too_long or len(data) > self.limit:
            data = data[:self.limit - len(self.terminator)] + self.terminator
            return TailRecord(f"{fingerprint}:{start}", data, True)
        return TailRecord(f"{fingerprint}:{start}", data, False)


@dataclass(eq=False)
class _Pending:
    path: str
    fd: int
    seen_at: float
    settle_at: float


@dataclass(eq=False)
class TrackedFile:
    path: str
    device: int
    inode: int
    fd: int
    generation: int
    fingerprint: str
    head_len: int
    head_hash: str
    splitter: _Splitter
    read_pos: int
    window: bytearray = field(default_factory=bytearray)  # the file's bytes from window_start to read_pos
    window_start: int = 0
    out_of_glob: bool = False
    idle_since: float = 0.0
    group_idle_since: float = 0.0

    def tail_hash(self) -> str:
        consumed = self.splitter.consumed
        lo = max(0, consumed - TAIL_BYTES)
        if lo < self.window_start:
            return ""  # not in memory (a line longer than the window): copy detection will not match
        return _hash(bytes(self.window[lo - self.window_start:consumed - self.window_start]))


class FlowTailer:
    """Tails the files of one flow; ``read`` hands out records, ``checkpoints`` says how far they reach."""

    def __init__(self, index: int, flow: FlowConfig, saved: list[FileCheckpoint], *,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.index, self.flow, self._clock = index, flow, clock
        self._saved = {(c.device, c.inode): c for c in saved}
        self._files: dict[tuple[int, int], TrackedFile] = {}
        # initialPosition applies to the files of the very first run only: after that, a file we did not
        # know was created while we were down (or is a rotation's new file) and starts at 0.
        self._first_run = not saved
        self._first_scan = True
        self._retired: list[FileCheckpoint] = []
        self._pending: dict[tuple[int, int], _Pending] = {}  # new files, open, waiting NEW_FILE_SETTLE_S
        self._started_at_end: set[tuple[int, int]] = set()   # first-run files that start at their end
        self._next_scan = float("-inf")
        self._dirty: list[FileCheckpoint] = []  # rows to write before records of these files are sent
        self._multi_line = re.compile(flow.multi_line_start_pattern) if flow.multi_line_start_pattern else None
        self._footer = re.compile(flow.file_footer_pattern) if flow.file_footer_pattern else None
        self._limit = flow.max_record_bytes - (KINESIS_KEY_ROOM if flow.kinesis_stream else 0)
        self.rotations = 0
        self.truncations = 0
        self._turn = 0

    # --- public --------------------------------------------------------------------------------------
    @property
    def tracked(self) -> int:
        return len(self._files)

    @property
    def settling(self) -> bool:
        """New files with data wait to be tracked (see NEW_FILE_SETTLE_S); empty ones do not count."""
        return any(os.fstat(pending.fd).st_size for pending in self._pending.values())

    @property
    def has_retired(self) -> bool:
        """Files were closed since the last checkpoint (their final offsets wait for it)."""
        return bool(self._retired)

    def take_new_rows(self) -> list[FileCheckpoint]:
        """Rows of files that started being tracked (or restarted at 0): save them before sending their records."""
        rows, self._dirty = self._dirty, []
        return rows

    def checkpoints(self) -> list[FileCheckpoint]:
        """Where every file stands now; call only once every record read so far was acknowledged."""
        now = self._clock.time()
        # A retired file's inode may already belong to a new file: the live row wins (and is written last).
        retired = [row for row in self._retired if (row.device, row.inode) not in self._files]
        rows = retired + [self._row(f, now, live=True) for f in self._files.values()]
        self._retired = []
        for row in rows:
            self._saved[(row.device, row.inode)] = row  # copy detection matches the acknowledged offset
        return rows

    def read(self, max_bytes: int = 4 * READ_CHUNK_BYTES) -> list[TailRecord]:
        """Scan if due, then read what is new in every file (up to ``max_bytes`` in all)."""
        now = self._clock.monotonic()
        if now >= self._next_scan:
            self._scan()
        out: list[TailRecord] = []
        budget = max_bytes
        files = list(self._files.values())
        if files:  # round robin: with more busy files than the budget serves, each gets its turn first
            self._turn = (self._turn + 1) % len(files)
            files = files[self._turn:] + files[:self._turn]
        for tracked in files:
            if budget <= 0:
                break
            budget -= self._read_file(tracked, out, min(budget, READ_CHUNK_BYTES), now)
        self._retire_finished(now, out)
        return out

    def close(self) -> None:
        for tracked in self._files.values():
            os.close(tracked.fd)
        for pending in self._pending.values():
            os.close(pending.fd)
        self._files.clear()
        self._pending.clear()

    # --- discovery -----------------------------------------------------------------------------------
    def _scan(self) -> None:
        now = self._clock.monotonic()
        self._next_scan = now + self.flow.rescan_s
        found: dict[tuple[int, int], str] = {}
        for path in sorted(glob.glob(self.flow.file_pattern)):
            try:
                st = os.stat(path)
            except FileNotFoundError:
                continue
            if os.path.isfile(path):
                found.setdefault((st.st_dev, st.st_ino), path)
        # New inodes first: a copy made by copytruncate must be matched against the original's checkpoint
        # before the original's truncation replaces that checkpoint.
        for key, path in found.items():
            if key in self._pending:
                self._pending[key].path = path
            elif key not in self._files:
                self._discover(key, path, now)
        # Resumptions and copies before new files: starting a new generation replaces an inode's checkpoint,
        # which a copy found in the same scan (after a restart) must still be matched against.
        settled = [key for key, pending in list(self._pending.items()) if self._decide(key, pending, now)]
        for key in settled:
            self._start_new(key, self._pending.pop(key))
        if self._pending:
            self._next_scan = min(self._next_scan, min(p.settle_at for p in self._pending.values()))
        for key, tracked in self._files.items():
            if key in found:
                tracked.path, tracked.out_of_glob = found[key], False
            elif not tracked.out_of_glob:
                tracked.out_of_glob = True
                tracked.idle_since = now
                self.rotations += 1
        self._first_scan = False

    def _discover(self, key: tuple[int, int], path: str, now: float) -> None:
        """Open a new file at once (so a delete during the settle time loses nothing); decide what it is later."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != key:
            os.close(fd)  # replaced between stat and open: the next scan sees the new one
            return
        if self._first_scan and self._first_run and self.flow.initial_position == "END_OF_FILE":
            self._started_at_end.add(key)
        # Files there at the first scan are decided at once; later ones settle first (a copy being written).
        settle_at = float("-inf") if self._first_scan else now + NEW_FILE_SETTLE_S
        self._pending[key] = _Pending(path, fd, now, settle_at)

    def _decide(self, key: tuple[int, int], pending: "_Pending", now: float) -> bool:
        """Track a resumed file or a copy of a checkpointed one; True if it is a new file, settled."""
        fd = pending.fd
        st = os.fstat(fd)
        if st.st_size == 0:
            if st.st_nlink == 0:  # deleted while still empty: nothing to read, ever
                os.close(fd)
                del self._pending[key]
            return False  # nothing to fingerprint yet
        saved = self._saved.get(key)
        if saved is not None and saved.live and self._continues(fd, st.st_size, saved):
            del self._pending[key]
            self._open(pending.path, fd, st, saved.generation, saved.fingerprint, saved.head_len, saved.head_hash,
                       saved.offset, fresh=False)
            return False
        copy_of, copying = self._copy_of(fd, st.st_size, key)
        if copy_of is not None:
            log.info("event=agent_copy_detected flow=%d inode=%d of_inode=%d", self.index, key[1], copy_of.inode)
            del self._pending[key]
            self._open(pending.path, fd, st, copy_of.generation, copy_of.fingerprint, copy_of.head_len,
                       copy_of.head_hash, copy_of.offset, fresh=True)
            return False
        return now >= pending.settle_at and not (copying and now < pending.seen_at + COPY_SETTLE_MAX_S)

    def _start_new(self, key: tuple[int, int], pending: "_Pending") -> None:
        fd = pending.fd
        st = os.fstat(fd)
        saved = self._saved.get(key)
        head = os.pread(fd, FINGERPRINT_BYTES, 0)
        generation = saved.generation + 1 if saved is not None else 0
        start = st.st_size if key in self._started_at_end else 0
        self._open(pending.path, fd, st, generation, fingerprint_of(key[0], key[1], generation, head), len(head),
                   _hash(head), start, fresh=True)

    def _continues(self, fd: int, size: int, saved: FileCheckpoint) -> bool:
        """The file at a checkpointed inode is still that file (not truncated, not a reused inode)."""
        return size >= saved.offset and _hash(os.pread(fd, saved.head_len, 0)) == saved.head_hash

    def _copy_of(self, fd: int, size: int, key: tuple[int, int]) -> tuple[FileCheckpoint | None, bool]:
        """(the checkpoint this file is a copy of, or None; whether it looks like a copy still being written)."""
        copying = False
        for saved in self._saved.values():
            if (saved.device, saved.inode) == key or saved.head_len > size:
                continue
            if _hash(os.pread(fd, saved.head_len, 0)) != saved.head_hash:
                continue
            if saved.offset > size:
                copying = True
                continue
            lo = max(0, saved.offset - TAIL_BYTES)
            if _hash(os.pread(fd, saved.offset - lo, lo)) == saved.tail_hash:
                return saved, False
        return None, copying

    def _open(self, path: str, fd: int, st: os.stat_result, generation: int, fingerprint: str, head_len: int,
              head_hash: str, offset: int, *, fresh: bool) -> None:
        skip = self.flow.skip_header_lines if offset == 0 else 0
        splitter = _Splitter(offset, self._limit, self.flow.truncated_record_terminator, self._multi_line, skip,
                             self._footer)
        lo = max(0, offset - TAIL_BYTES)
        window = bytearray(os.pread(fd, offset - lo, lo))
        tracked = TrackedFile(path, st.st_dev, st.st_ino, fd, generation, fingerprint, head_len, head_hash, splitter,
                              offset, window, lo, idle_since=self._clock.monotonic())
        self._files[(st.st_dev, st.st_ino)] = tracked
        row = self._row(tracked, self._clock.time(), live=True)
        self._saved[(st.st_dev, st.st_ino)] = row
        if fresh:
            self._dirty.append(row)
        # Inodes and fingerprints, never paths: a path can name a person.
        log.info("event=agent_file_tracked flow=%d inode=%d fingerprint=%s generation=%d offset=%d resumed=%s",
                 self.index, st.st_ino, fingerprint, generation,
                 offset, not fresh)

    # --- reading -------------------------------------------------------------------------------------
    def _read_file(self, tracked: TrackedFile, out: list[TailRecord], max_bytes: int, now: float) -> int:
        try:
            size = os.fstat(tracked.fd).st_size
        except OSError:
            return 0
        if size < tracked.read_pos:
            self._truncated(tracked)
            return 0
        if size == tracked.read_pos:
            self._check_path(tracked)
            self._flush_idle_group(tracked, out, now)
            return 0
        chunk = os.pread(tracked.fd, min(max_bytes, size - tracked.read_pos), tracked.read_pos)
        if not chunk:
            return 0
        if _hash(os.pread(tracked.fd, tracked.head_len, 0)) != tracked.head_hash:
            self._truncated(tracked)  # truncated and rewritten past our position between two looks
            return 0
        tracked.read_pos += len(chunk)
        tracked.idle_since = tracked.group_idle_since = now
        tracked.window += chunk
        tracked.splitter.feed(chunk, tracked.fingerprint, out)
        self._trim_window(tracked)
        if tracked.head_len < FINGERPRINT_BYTES and tracked.read_pos > tracked.head_len:
            # The fingerprint keeps the bytes it was made from; the identity check grows to the full 1 KiB,
            # so only a true copy of the file matches it.
            head = os.pread(tracked.fd, min(FINGERPRINT_BYTES, tracked.read_pos), 0)
            tracked.head_len, tracked.head_hash = len(head), _hash(head)
        return len(chunk)

    def _trim_window(self, tracked: TrackedFile) -> None:
        keep_from = max(tracked.splitter.consumed - TAIL_BYTES, tracked.read_pos - (self._limit + 2 * TAIL_BYTES))
        if keep_from > tracked.window_start:
            del tracked.window[:keep_from - tracked.window_start]
            tracked.window_start = keep_from

    def _flush_idle_group(self, tracked: TrackedFile, out: list[TailRecord], now: float) -> None:
        # A multi-line record ends when the next one starts; at a quiet end of file, after the buffer age.
        if tracked.splitter.group and now - tracked.group_idle_since >= self.flow.max_buffer_age_s:
            tracked.splitter.flush_group(tracked.fingerprint, out)

    def _check_path(self, tracked: TrackedFile) -> None:
        """At the end of a file: has its path been rotated away (renamed, deleted, recreated)?"""
        if tracked.out_of_glob:
            return
        try:
            st = os.stat(tracked.path)
        except FileNotFoundError:
            self._next_scan = float("-inf")
            return
        if (st.st_dev, st.st_ino) != (tracked.device, tracked.inode):
            self._next_scan = float("-inf")

    def _truncated(self, tracked: TrackedFile) -> None:
        """Copytruncate, or the file was emptied: look for the copy first, then restart at 0 as a new
        generation (new fingerprint: new ids, and no loop over old offsets)."""
        self.truncations += 1
        log.info("event=agent_file_truncated flow=%d inode=%d generation=%d", self.index, tracked.inode,
                 tracked.generation)
        self._scan()
        key = (tracked.device, tracked.inode)
        if self._files.get(key) is not tracked:
            return
        del self._files[key]
        saved = self._saved.pop(key, None)
        try:
            st = os.fstat(tracked.fd)
        except OSError:
            os.close(tracked.fd)
            return
        if st.st_size == 0:
            # Keep the old checkpoint (so a copy found later still matches it); track again once it has bytes.
            if saved is not None:
                self._saved[key] = saved
            os.close(tracked.fd)
            self._next_scan = float("-inf")
            return
        head = os.pread(tracked.fd, FINGERPRINT_BYTES, 0)
        generation = tracked.generation + 1
        self._open(tracked.path, tracked.fd, st, generation, fingerprint_of(key[0], key[1], generation, head),
                   len(head), _hash(head), 0, fresh=True)

    def _retire_finished(self, now: float, out: list[TailRecord]) -> None:
        for key, tracked in list(self._files.items()):
            if not tracked.out_of_glob or now - tracked.idle_since < RETIRE_GRACE_S:
                continue
            try:
                size = os.fstat(tracked.fd).st_size
            except OSError:
                size = tracked.read_pos
            if size != tracked.read_pos:
                continue
            tracked.splitter.flush_partial(tracked.fingerprint, out)
            row = self._row(tracked, self._clock.time(), live=False)
            self._saved[key] = row
            self._retired.append(row)  # written with the next checkpoint, once its last records are acknowledged
            os.close(tracked.fd)
            del self._files[key]
            log.info("event=agent_file_retired flow=%d inode=%d generation=%d offset=%d", self.index, tracked.inode,
                     tracked.generation, tracked.splitter.consumed)

    def _row(self, tracked: TrackedFile, now: float, *, live: bool) -> FileCheckpoint:
        return FileCheckpoint(self.index, tracked.device, tracked.inode, tracked.generation, tracked.fingerprint,
                              tracked.head_len, tracked.head_hash, tracked.path, tracked.splitter.consumed,
                              tracked.tail_hash(), live, now)
