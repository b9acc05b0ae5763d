"""The publisher: a video cut into 2-second MPEG-TS segments on keyframes, sent as parts through our producer.

Segments are cut with PyAV (demux and remux, no re-encode): a new segment
starts at the first keyframe at least ``segment_s`` after the current one
began, so every segment starts with a keyframe and decodes on its own.
Timestamps are kept, so the sink's rungs play as one timeline.

All parts of a video use the partition key ``video_id``, so they stay in
order on one shard.  One shard takes 1 MiB/s of writes, so one video can be
published in real time up to about 8 Mbit/s; above that the producer paces it
(and says so), which is a Kinesis limit, not ours.
"""
from __future__ import annotations

import io
import logging
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO, Iterator

from connectors.kinesis.aggregation import MAX_RECORD_BYTES
from connectors.video.ffmpeg import run_ffmpeg, synthetic_source_args
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.records import to_avro
from pipelines.video.segments import SegmentMeta, end_record, part_record, split_segment

log = logging.getLogger("shardline.video.publisher")
SYNTHETIC = {"1080p30": ("1920x1080", 30), "4k60": ("3840x2160", 60), "720p30": ("1280x720", 30),
             "360p30": ("640x360", 30)}
SHARD_BYTES_PER_S = 1024 * 1024
MPEGTS_HZ = 90_000


def _av():
    try:
        import av
    except ImportError:
        raise ImportError("publishing video needs PyAV: pip install 'shardline[video]'") from None
    return av


@dataclass(frozen=True)
class CutSegment:
    meta: SegmentMeta
    """Without video id and sequence number: the publisher sets them."""
    data: bytes


def cut_segments(source: str | Path | BinaryIO, segment_s: float = 2.0) -> Iterator[CutSegment]:
    """MPEG-TS segments of the first video stream, each starting on a keyframe, at least ``segment_s`` long."""
    av = _av()
    with av.open(source) as container:
        if not container.streams.video:
            raise ValueError("the input has no video stream")
        stream = container.streams.video[0]
        codec = stream.codec_context
        fps = float(stream.average_rate or stream.guessed_rate or 30)
        time_base = stream.time_base
        base = SegmentMeta("", 0, 0, segment_s, codec.name, codec.width, codec.height, fps)
        frame_ticks = 1 / fps / time_base  # one frame, in the stream's time base
        buffer: io.BytesIO | None = None
        output = out_stream = None
        first_pts = last_end = 0
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue
            starts_new = buffer is None or (packet.is_keyframe and (packet.pts - first_pts) * time_base >= segment_s)
            if starts_new:
                if buffer is not None:
                    yield _finish(output, buffer, base, first_pts, last_end, time_base)
                buffer = io.BytesIO()
                output = av.open(buffer, "w", format="mpegts")
                out_stream = output.add_stream_from_template(stream)
                first_pts = packet.pts
                if not packet.is_keyframe:
                    log.warning("event=segment_starts_without_keyframe pts=%s; the first segment may not decode "
                                "fully", packet.pts)
            last_end = max(last_end, packet.pts + (packet.duration or frame_ticks))
            packet.stream = out_stream
            output.mux(packet)
        if buffer is not None:
            yield _finish(output, buffer, base, first_pts, last_end, time_base)


def _finish(output, buffer: io.BytesIO, base: SegmentMeta, first_pts: int, end: float, time_base) -> CutSegment:
    output.close()
    duration = float((end - first_pts) * time_base)
    pts_90k = int(round(first_pts * time_base * MPEGTS_HZ))
    return CutSegment(replace(base, pts_90k=pts_90k, duration_s=round(duration, 6)), buffer.getvalue())


def synthetic_clip(name: str, seconds: float, folder: Path, exe: str | None = None) -> Path:
    """A test clip (``1080p30``, ``4k60``...): ffmpeg's testsrc2 with grain, a keyframe every 2 s."""
    if name not in SYNTHETIC:
        raise ValueError(f"synthetic source must be one of {', '.join(SYNTHETIC)}, got {name!r}")
    size, fps = SYNTHETIC[name]
    path = folder / f"synthetic-{name}.ts"
    run_ffmpeg(synthetic_source_args(size, fps, seconds, str(path)), what="synthetic clip", exe=exe)
    return path


@dataclass(frozen=True)
class PublishConfig:
    video_id: str
    """The video's id: the partition key of all its records and its folder in the HLS output."""
    segment_s: float = 2.0
    """Target segment length; segments start on keyframes, so they are at least this long."""
    realtime: bool = False
    """Pace segments like a live source: segment n is sent ``n x duration`` after the first."""
    max_record_bytes: int = MAX_RECORD_BYTES
    """Kinesis' record limit (data + partition key): parts are cut to fit it."""
    end_of_stream: bool = True
    """Send an end-of-stream record after the last segment, so the sink closes the playlists."""


@dataclass
class PublishStats:
    segments: int = 0
    parts: int = 0
    bytes: int = 0
    seconds: float = 0.0


async def publish(source: str | Path | BinaryIO, producer, config: PublishConfig,
                  clock: Clock = SYSTEM_CLOCK) -> PublishStats:
    """Cut ``source`` and put every part through ``producer`` (a started ``KinesisProducer``); flushes at the end."""
    stats = PublishStats()
    started = clock.monotonic()
    warned = False
    sequence = -1
    for sequence, cut in enumerate(cut_segments(source, config.segment_s)):
        meta = replace(cut.meta, video_id=config.video_id, sequence=sequence)
        if config.realtime:
            await clock.sleep(started + stats.seconds - clock.monotonic())
        event_time = int(clock.time() * 1000)
        for part in split_segment(meta, cut.data, max_record_bytes=config.max_record_bytes, event_time=event_time):
            await producer.put(to_avro(part_record(part)), config.video_id)
            stats.parts += 1
        stats.segments += 1
        stats.bytes += len(cut.data)
        stats.seconds += meta.duration_s
        rate = len(cut.data) / max(meta.duration_s, 1e-3)
        if rate > SHARD_BYTES_PER_S and not warned:
            warned = True
            log.warning("event=video_over_shard_limit video_id=%s mbit_s=%.1f: one partition key writes to one "
                        "shard, which takes 1 MiB/s; this video publishes slower than real time",
                        config.video_id, rate * 8 / 1e6)
    if sequence < 0:
        raise ValueError("the input holds no video packets")
    if config.end_of_stream:
        await producer.put(to_avro(end_record(config.video_id, sequence, int(clock.time() * 1000))), config.video_id)
    await producer.flush()
    return stats


def synthetic_or_file(input_path: str | None, synthetic: str | None,
                      seconds: float) -> tuple[Path, tempfile.TemporaryDirectory | None]:
    """The file to publish: the given one, or a synthetic clip made in a temporary folder (returned to clean up)."""
    if (input_path is None) == (synthetic is None):
        raise ValueError("give a FILE or --synthetic, not both")
    if input_path is not None:
        return Path(input_path), None
    folder = tempfile.TemporaryDirectory(prefix="shardline-video-")
    return synthetic_clip(synthetic, seconds, Path(folder.name)), folder
