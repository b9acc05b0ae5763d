"""The transcoding sink over parts, on the CPU plan into a folder: HLS out, bad input to the dead letters."""
import dataclasses

import pytest

from connectors.dead_letter import FileDeadLetters, read_dead_letters
from connectors.video.hls_store import FolderStore
from connectors.video.sink import VideoSink, VideoSinkConfig
from pipelines.clock import FakeClock
from pipelines.records import from_avro
from pipelines.video.assembly import AssemblyConfig
from pipelines.video.dead_letters import VideoDeadLetterMask
from pipelines.video.governor import GovernorConfig
from pipelines.video.segments import StreamEnd, from_record
from tests.video_helpers import clip_segments, decode, parse_master, parse_media, parts_of, reparted


@pytest.fixture(scope="module")
def cuts(tmp_path_factory):
    return clip_segments("360p30", 8, tmp_path_factory.mktemp("clip"))


def make_sink(tmp_path, clock=None, **config):
    letters = FileDeadLetters(tmp_path / "dlq.jsonl", mask=VideoDeadLetterMask())
    return VideoSink(FolderStore(tmp_path / "hls"), "cpu", letters, config=VideoSinkConfig(**config),
                     clock=clock or FakeClock())


async def feed(sink, parts_by_segment, end: int | None = None):
    for parts in parts_by_segment:
        for part in parts:
            await sink.add(part)
    if end is not None:
        await sink.add(StreamEnd(parts_by_segment[0][0].meta.video_id, end))
    await sink.flush()


def letters(tmp_path):
    path = tmp_path / "dlq.jsonl"
    return list(read_dead_letters(path)) if path.exists() else []


async def test_a_video_becomes_an_hls_ladder_that_plays_back(cuts, tmp_path):
    sink = make_sink(tmp_path)
    segments = parts_of(cuts)
    assert all(len(parts) > 1 for parts in segments), "every segment travels as several records"
    await feed(sink, segments, end=len(segments) - 1)
    await sink.close()
    root = tmp_path / "hls" / "cam-1"
    assert parse_master((root / "master.m3u8").read_text()) == [("640x360", "360p/index.m3u8"),
                                                                ("284x160", "160p/index.m3u8")]
    for rung in ("360p", "160p"):
        playlist = (root / rung / "index.m3u8").read_text()
        assert playlist.rstrip().endswith("#EXT-X-ENDLIST")
        entries = parse_media(playlist)
        assert [e["uri"] for e in entries] == [f"seg{k:08d}.ts" for k in range(len(cuts))]
        for entry, cut in zip(entries, cuts):
            seen = decode((root / rung / entry["uri"]).read_bytes())
            assert seen["first_is_key"] and seen["frames"] == round(cut.meta.duration_s * 30)
            assert entry["duration"] == pytest.approx(cut.meta.duration_s)
    assert sink.counts["transcoded"] == len(cuts) and letters(tmp_path) == []


async def test_a_missing_part_times_out_to_the_dead_letters_and_the_stream_carries_on(cuts, tmp_path):
    clock = FakeClock()
    sink = make_sink(tmp_path, clock, assembly=AssemblyConfig(part_timeout_s=10))
    segments = parts_of(cuts[:3])
    await feed(sink, [segments[0], segments[1][:-1]])   # segment 1 loses its last part
    clock.advance(11)
    await feed(sink, [segments[2]])
    await sink.close()
    dead = letters(tmp_path)
    assert {d.error_type for d in dead} == {"incomplete_segment"} and len(dead) == len(segments[1]) - 1
    assert "segment 1 of video cam-1" in dead[0].reason and "arrived within 10 s" in dead[0].reason
    redrivable = from_record(from_avro(dead[0].data))
    assert redrivable.data == segments[1][0].data, "a letter holds the part, media untouched, for redrive"
    entries = parse_media((tmp_path / "hls" / "cam-1" / "360p" / "index.m3u8").read_text())
    assert [e["uri"] for e in entries] == ["seg00000000.ts", "seg00000002.ts"]
    assert entries[1].get("discontinuity"), "players reset their timeline after the lost segment"


async def test_corrupt_and_unsupported_segments_are_dead_lettered_and_the_next_is_written(cuts, tmp_path):
    sink = make_sink(tmp_path)
    good = parts_of(cuts[:4])
    garbage = reparted(good[1], bytes(range(256)) * 2000)            # consistent parts, not a video
    prores = reparted(good[2], cuts[2].data, codec="prores")          # a codec we do not take
    damaged = list(good[3])                                          # a part's bytes changed in transit
    damaged[0] = dataclasses.replace(damaged[0], data=b"\x47" * len(damaged[0].data))
    first = reparted(good[0], cuts[0].data, sequence=4)               # two publications of segment 4 mixed
    second = reparted(good[0], cuts[1].data, sequence=4)
    await feed(sink, [good[0], garbage, prores, damaged, first[:1] + second[1:]])
    await sink.close()
    by_type = {}
    for letter in letters(tmp_path):
        by_type.setdefault(letter.error_type, set()).add(letter.source.split("/")[1])
    assert by_type == {"corrupt_segment": {"segment 1", "segment 3"}, "unsupported_codec": {"segment 2"},
                       "inconsistent_parts": {"segment 4"}}
    assert sink.counts["transcoded"] == 1 and sink.counts["dead_lettered_segments"] == 4


async def test_a_video_over_capacity_is_refused_to_the_dead_letters(cuts, tmp_path):
    sink = make_sink(tmp_path, max_streams=1)
    await feed(sink, [parts_of(cuts[:1], "cam-1")[0], parts_of(cuts[:1], "cam-2")[0]])
    await sink.close()
    dead = letters(tmp_path)
    assert {d.error_type for d in dead} == {"admission_refused"} and "cam-2" in dead[0].reason
    assert (tmp_path / "hls" / "cam-1" / "master.m3u8").exists()
    assert not (tmp_path / "hls" / "cam-2").exists()


async def test_what_flush_returned_from_survives_a_crash(cuts, tmp_path):
    """Parts of an incomplete segment are durable at flush: a new sink on the same output finishes it."""
    segments = parts_of(cuts[:2])
    first = make_sink(tmp_path)
    await feed(first, [segments[0], segments[1][:2]])
    pending = sorted((tmp_path / "hls" / ".pending").rglob("*.part"))
    assert len(pending) == 2, "read before close: the pending parts are already in the store"
    del first  # crashed: never closed
    second = make_sink(tmp_path)
    await feed(second, [segments[0], segments[1][2:]])    # the stream replays from the last checkpoint
    await second.close()
    assert second.counts["duplicates"] == 1, "segment 0 was written already and is not transcoded again"
    entries = parse_media((tmp_path / "hls" / "cam-1" / "360p" / "index.m3u8").read_text())
    assert [e["uri"] for e in entries] == ["seg00000000.ts", "seg00000001.ts"]
    assert not list((tmp_path / "hls" / ".pending").rglob("*.part"))


class SlowClock(FakeClock):
    """Every reading of the monotonic clock is ``step`` seconds after the last: each transcode looks slow."""

    def __init__(self, step: float) -> None:
        super().__init__()
        self.step = step

    def monotonic(self) -> float:
        self.advance(self.step)
        return super().monotonic()


async def test_a_stream_that_falls_behind_gets_a_faster_preset_then_loses_its_top_rung(cuts, tmp_path):
    sink = make_sink(tmp_path, SlowClock(1.9), governor=GovernorConfig(recover_after=1), stream_idle_s=1e9,
                     assembly=AssemblyConfig(part_timeout_s=1e9))
    await feed(sink, parts_of(cuts[:3]))
    await sink.close()
    assert sink.counts["degraded"] == 2
    top = parse_media((tmp_path / "hls" / "cam-1" / "360p" / "index.m3u8").read_text())
    assert [bool(e.get("gap")) for e in top] == [False, False, True], "the third segment has no top rung"
    low = parse_media((tmp_path / "hls" / "cam-1" / "160p" / "index.m3u8").read_text())
    assert not any(e.get("gap") for e in low)
    assert not (tmp_path / "hls" / "cam-1" / "360p" / "seg00000002.ts").exists()


async def test_segments_of_different_videos_transcode_side_by_side_in_order_per_video(cuts, tmp_path):
    sink = make_sink(tmp_path)
    a, b = parts_of(cuts[:2], "cam-a"), parts_of(cuts[:2], "cam-b")
    for pa, pb in zip(a, b):
        for part in pa + pb:
            await sink.add(part)
    assert len(sink._tasks) >= 2, "both videos' segments are in flight at once"
    await sink.close()
    for video in ("cam-a", "cam-b"):
        entries = parse_media((tmp_path / "hls" / video / "160p" / "index.m3u8").read_text())
        assert [e["uri"] for e in entries] == ["seg00000000.ts", "seg00000001.ts"]
