"""Tailing: rotation by rename, copytruncate and delete-and-recreate, late files, multi-line, long records.

Time matters for rescans, retirement and multi-line idling: a FakeClock drives it.
"""
import os
import shutil

from connectors.agent.checkpoints import CheckpointStore
from connectors.agent.config import parse_config
from connectors.agent.tailer import RETIRE_GRACE_S, FlowTailer
from pipelines.clock import FakeClock


def make_flow(pattern, **extra):
    return parse_config({"flows": [{"filePattern": str(pattern), "kinesisStream": "s", **extra}]}).flows[0]


class Harness:
    """A tailer, a fake clock, and a store that keeps what was 'acknowledged'."""

    def __init__(self, tmp_path, pattern="app.log*", **extra):
        self.dir = tmp_path
        self.flow = make_flow(tmp_path / pattern, **extra)
        self.clock = FakeClock(start=1000.0)
        self.store = CheckpointStore(tmp_path / "state" / "cp.sqlite")
        self.records = []
        self.tailer = None
        self.restart()

    def restart(self):
        if self.tailer is not None:
            self.tailer.close()
        self.tailer = FlowTailer(0, self.flow, self.store.load(0), clock=self.clock)

    def poll(self, rounds=8, advance=0.2):  # 1.6 s: past NEW_FILE_SETTLE_S
        for _ in range(rounds):
            got = self.tailer.read()
            self.store.save(self.tailer.take_new_rows())
            self.records.extend(got)
            self.clock.advance(advance)
        return self.records

    def ack(self):
        self.store.save(self.tailer.checkpoints())

    def lines(self):
        return [r.data for r in self.records]

    def unique_lines(self):
        seen, out = set(), []
        for record in self.records:
            if record.id not in seen:
                seen.add(record.id)
                out.append(record.data)
        return out


def write(path, *lines, mode="a"):
    with open(path, mode) as f:
        for line in lines:
            f.write(line + "\n")


def test_first_run_honours_initial_position_and_ids_are_fingerprint_offset(tmp_path):
    write(tmp_path / "app.log", "old 1", "old 2")
    h = Harness(tmp_path)  # END_OF_FILE by default
    h.poll()
    write(tmp_path / "app.log", "new 1", "new 2")
    h.poll()
    assert h.lines() == [b"new 1\n", b"new 2\n"]
    fingerprint = h.records[0].id.split(":")[0]
    assert [r.id for r in h.records] == [f"{fingerprint}:12", f"{fingerprint}:18"]


def test_start_of_file_and_skip_header_lines(tmp_path):
    write(tmp_path / "data.csv", "id,name", "1,a")
    h = Harness(tmp_path, pattern="*.csv", initialPosition="START_OF_FILE", skipHeaderLines=1)
    h.poll()
    assert h.lines() == [b"1,a\n"]


def test_a_late_file_is_found_by_the_rescan_and_read_from_its_start(tmp_path):
    h = Harness(tmp_path, initialPosition="END_OF_FILE")
    h.poll()
    write(tmp_path / "app.log.2", "late 1")
    h.poll(rounds=1, advance=0.0)
    assert h.lines() == []  # not rescanned yet
    h.clock.advance(h.flow.rescan_s)
    h.poll()
    assert h.lines() == [b"late 1\n"]


def test_a_partial_line_waits_for_its_newline(tmp_path):
    h = Harness(tmp_path, initialPosition="START_OF_FILE")
    with open(tmp_path / "app.log", "w") as f:
        f.write("hal")
    h.clock.advance(20)
    h.poll()
    assert h.lines() == []
    with open(tmp_path / "app.log", "a") as f:
        f.write("f a line\n")
    h.poll()
    assert h.lines() == [b"half a line\n"]


def test_rename_rotation_reads_the_renamed_file_to_its_end(tmp_path):
    log = tmp_path / "app.log"
    write(log, "a1", "a2")
    h = Harness(tmp_path, pattern="app.log", initialPosition="START_OF_FILE")
    h.poll()
    # logrotate renames; the application writes a last line to its old descriptor before reopening.
    os.rename(log, tmp_path / "app.log.1")
    write(tmp_path / "app.log.1", "a3")
    write(log, "b1")
    h.poll()
    assert sorted(h.lines()) == [b"a1\n", b"a2\n", b"a3\n", b"b1\n"]
    h.clock.advance(RETIRE_GRACE_S)
    h.poll()
    assert h.tailer.tracked == 1 and h.tailer.has_retired
    assert len(h.lines()) == 4


def test_copytruncate_continues_in_the_copy_and_restarts_the_original_at_zero(tmp_path):
    log = tmp_path / "app.log"
    write(log, *(f"line {i:04d} " + "x" * 40 for i in range(100)))
    h = Harness(tmp_path, initialPosition="START_OF_FILE")
    h.poll()
    h.ack()
    acked_ids = {r.id for r in h.records}
    # Lines written, then copied and truncated before the agent looked again: they are only in the copy.
    write(log, "unread 1", "unread 2")
    shutil.copyfile(log, tmp_path / "app.log.1")
    with open(log, "r+") as f:
        f.truncate(0)
    write(log, "after 1")
    h.poll()
    h.poll()
    assert sorted(h.unique_lines()[-3:]) == [b"after 1\n", b"unread 1\n", b"unread 2\n"]
    assert len(h.unique_lines()) == 103
    new_ids = [r.id for r in h.records if r.id not in acked_ids]
    unread = [r for r in h.records if r.data.startswith(b"unread")]
    assert unread[0].id.split(":")[0] == h.records[0].id.split(":")[0]  # the copy kept the original's ids
    after = [r for r in h.records if r.data == b"after 1\n"][0]
    assert after.id.split(":")[0] != h.records[0].id.split(":")[0] and after.id.endswith(":0")
    assert len(new_ids) == 3
    # No loop: more polls read nothing again.
    before = len(h.records)
    h.poll(rounds=5)
    assert len(h.records) == before


def test_copytruncate_after_a_crash_is_recognised_from_the_checkpoint(tmp_path):
    log = tmp_path / "app.log"
    write(log, *(f"line {i:04d}" for i in range(50)))
    h = Harness(tmp_path, initialPosition="START_OF_FILE")
    h.poll()
    h.ack()
    write(log, "read but not acknowledged")
    h.poll()
    h.tailer.close()
    h.tailer = None  # crash: nothing after the ack is saved
    write(log, "written while down")
    shutil.copyfile(log, tmp_path / "app.log.1")
    with open(log, "r+") as f:
        f.truncate(0)
    write(log, "new generation")  # the original is decided before its copy (sorted first): order matters
    h.restart()
    h.poll()
    assert sorted(h.unique_lines()[-3:]) == [b"new generation\n", b"read but not acknowledged\n",
                                             b"written while down\n"]
    assert len(h.unique_lines()) == 53  # the re-read line has the id it had before the crash


def test_delete_and_recreate(tmp_path):
    log = tmp_path / "app.log"
    write(log, "gen1 a")
    h = Harness(tmp_path, pattern="app.log", initialPosition="START_OF_FILE")
    h.poll()
    with open(log, "a") as old:
        os.unlink(log)
        old.write("gen1 last\n")  # still written through the open descriptor
    write(log, "gen2 a")
    h.poll()
    assert sorted(h.lines()) == [b"gen1 a\n", b"gen1 last\n", b"gen2 a\n"]
    assert len({r.id for r in h.records}) == 3


def test_restart_resumes_at_the_checkpoint_with_the_same_ids(tmp_path):
    log = tmp_path / "app.log"
    write(log, "one", "two")
    h = Harness(tmp_path, initialPosition="START_OF_FILE")
    h.poll()
    h.ack()
    write(log, "three")
    h.poll()
    first_three = h.records[-1]
    h.restart()  # as after SIGKILL: "three" was read but never acknowledged
    h.poll()
    assert h.records[-1] == first_three
    assert h.lines() == [b"one\n", b"two\n", b"three\n", b"three\n"]


def test_multi_line_records_end_at_the_next_start_or_after_the_buffer_age(tmp_path):
    log = tmp_path / "app.log"
    write(log, "2024-01-01 ERROR boom", "  at a", "  at b", "2024-01-01 INFO ok")
    h = Harness(tmp_path, initialPosition="START_OF_FILE", multiLineStartPattern="\\d{4}-\\d{2}-\\d{2} ",
                maxBufferAgeMillis=5000)
    h.poll(rounds=2, advance=1.0)
    assert h.lines() == [b"2024-01-01 ERROR boom\n  at a\n  at b\n"]
    h.clock.advance(5.0)
    h.poll(rounds=1)
    assert h.lines()[-1] == b"2024-01-01 INFO ok\n"


def test_a_record_over_the_limit_is_truncated_with_the_terminator(tmp_path):
    log = tmp_path / "app.log"
    with open(log, "wb") as f:
        f.write(b"x" * (3 * 1024 * 1024) + b"\nnext\n")
    h = Harness(tmp_path, initialPosition="START_OF_FILE", truncatedRecordTerminator="...TRUNCATED\n")
    h.poll(rounds=4)
    big, small = h.records
    assert big.truncated and big.data.endswith(b"...TRUNCATED\n") and len(big.data) <= 1024 * 1024 - 256
    assert small.data == b"next\n" and small.id.endswith(f":{3 * 1024 * 1024 + 1}")


def test_a_copy_seen_half_written_is_still_recognised(tmp_path):
    log = tmp_path / "app.log"
    write(log, *(f"line {i:04d} " + "y" * 40 for i in range(100)))
    h = Harness(tmp_path, initialPosition="START_OF_FILE")
    h.poll()
    h.ack()
    write(log, "unread")
    content = log.read_bytes()
    copy = tmp_path / "app.log.1"
    copy.write_bytes(content[:2000])  # copytruncate's copy, caught mid-way by a rescan
    h.clock.advance(h.flow.rescan_s)
    h.poll(rounds=2)
    copy.write_bytes(content)
    with open(log, "r+") as f:
        f.truncate(0)
    h.poll()
    assert len(h.unique_lines()) == 101 and h.unique_lines()[-1] == b"unread\n"
