"""The publisher: keyframe-aligned segments, records that fit Kinesis, paced like a live source."""
import io

from connectors.kinesis.aggregation import MAX_RECORD_BYTES
from connectors.video.publisher import PublishConfig, cut_segments, publish, synthetic_clip
from pipelines.clock import FakeClock
from pipelines.records import from_avro
from pipelines.video.segments import END_TYPE, from_record
from tests.video_helpers import decode


class ListProducer:
    def __init__(self) -> None:
        self.records: list[tuple[bytes, str]] = []
        self.flushed = 0

    async def put(self, data: bytes, partition_key: str) -> None:
        assert len(data) + len(partition_key.encode()) <= MAX_RECORD_BYTES
        self.records.append((data, partition_key))

    async def flush(self) -> None:
        self.flushed += 1


def test_segments_start_on_keyframes_and_keep_the_timeline(tmp_path):
    cuts = list(cut_segments(synthetic_clip("360p30", 5, tmp_path)))
    assert [c.meta.duration_s for c in cuts] == [2.0, 2.0, 1.0]
    for before, after in zip(cuts, cuts[1:]):
        assert after.meta.pts_90k == before.meta.pts_90k + 180_000
    for cut in cuts:
        seen = decode(cut.data)
        assert seen["first_is_key"] and seen["first_pts"] == cut.meta.pts_90k


async def test_publish_sends_parts_keyed_by_video_then_the_end_paced_in_real_time(tmp_path):
    clip = synthetic_clip("360p30", 6, tmp_path)
    producer, clock = ListProducer(), FakeClock()
    stats = await publish(clip, producer, PublishConfig("cam-9", realtime=True, max_record_bytes=100_000), clock)
    assert (stats.segments, stats.seconds) == (3, 6.0) and stats.parts > 3
    records = [from_avro(data) for data, _ in producer.records]
    assert {key for _, key in producer.records} == {"cam-9"}
    parts = [from_record(r) for r in records[:-1]]
    assert [(p.meta.sequence, p.part_index) for p in parts] == sorted((p.meta.sequence, p.part_index) for p in parts)
    assert records[-1].type == END_TYPE and records[-1].payload["last_sequence"] == 2
    assert [round(s, 6) for s in clock.slept if s > 0] == [2.0, 2.0], "segment n leaves n x 2 s after the first"
    assert producer.flushed == 1
    with open(clip, "rb") as fo:
        assert len(list(cut_segments(io.BytesIO(fo.read())))) == 3, "a file object works as well as a path"
