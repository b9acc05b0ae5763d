"""Hosts of the transcoding sink: the local runner over a stream, and offline over a file.

Both feed the same ``VideoSink`` with ``pipelines.video.segments.video_items``;
the KCL host is ``jobs.kcl.video_processor``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from prometheus_client import CollectorRegistry

from connectors.dead_letter import open_dead_letters
from connectors.video.ffmpeg import probe_capabilities
from connectors.video.hls_store import open_store
from connectors.video.sink import VideoSink, VideoSinkConfig
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.video.dead_letters import VideoDeadLetterMask
from pipelines.video.governor import GovernorConfig
from pipelines.video.plans import Capabilities, choose_plan
from pipelines.video.segments import StreamEnd, split_segment, video_items

log = logging.getLogger("shardline.video")


def resolve_plan(requested: str, codec: str) -> tuple[str, Capabilities | None]:
    """The plan to run: probed unless the CPU was asked for (which needs no GPU to open)."""
    if requested == "cpu":
        return "cpu", None
    caps = probe_capabilities()
    return choose_plan(caps, codec, requested), caps


def video_sink(out: str, plan: str, dead_letters: str, config: VideoSinkConfig, *, clock: Clock = SYSTEM_CLOCK,
               registry: CollectorRegistry | None = None) -> VideoSink:
    letters = open_dead_letters(dead_letters, clock=clock, mask=VideoDeadLetterMask())
    return VideoSink(open_store(out), plan, letters, config=config, clock=clock, registry=registry)


@dataclass(frozen=True)
class VideoRunResult:
    read: int
    dead_lettered_records: int
    sink: dict

    def as_dict(self) -> dict:
        return {"read": self.read, "dead_lettered_records": self.dead_lettered_records, **self.sink}


async def run_video_stream(stream: str, out: str, *, plan: str, dead_letters: str,
                           config: VideoSinkConfig = VideoSinkConfig(), start: str = "TRIM_HORIZON",
                           at_timestamp: float | None = None, checkpoints: Path | None = None,
                           application_name: str = "shardline-video", idle_timeout_s: float | None = None,
                           count: int | None = None, clock: Clock = SYSTEM_CLOCK,
                           registry: CollectorRegistry | None = None) -> VideoRunResult:
    """The local runner as the video engine: parts from ``stream`` into HLS at ``out``."""
    from connectors.kinesis.checkpoints import FileCheckpointStore
    from connectors.kinesis.consumer import ConsumerConfig, KinesisConsumer
    from jobs.local.runner import run_stream

    sink = video_sink(out, plan, dead_letters, config, clock=clock, registry=registry)
    consumer = KinesisConsumer(
        ConsumerConfig(stream_name=stream, application_name=application_name, initial_position=start,
                       at_timestamp=at_timestamp),
        checkpoints=FileCheckpointStore(checkpoints) if checkpoints else None, clock=clock, registry=registry,
        dead_letters=sink.dead_letters)
    try:
        async with consumer:
            stats = await run_stream(video_items, consumer, [sink], dead_letters=sink.dead_letters, clock=clock,
                                     stop_after=count, idle_timeout_s=idle_timeout_s)
    finally:
        try:
            await sink.close()
        finally:
            await sink.dead_letters.close()
    return VideoRunResult(stats.read, stats.dead_lettered, dict(sink.counts))


async def transcode_file(source: Path, out: str, *, plan: str, dead_letters: str, video_id: str | None = None,
                         config: VideoSinkConfig = VideoSinkConfig(), segment_s: float = 2.0,
                         on_segment: Callable[[float], None] | None = None) -> dict:
    """Offline: cut ``source`` into segments and put them through the sink, with no deadline to degrade on."""
    from connectors.kinesis.aggregation import MAX_RECORD_BYTES
    from connectors.video.publisher import cut_segments

    config = replace(config, governor=GovernorConfig(enabled=False))
    video_id = video_id or source.stem
    sink = video_sink(out, plan, dead_letters, config)
    last = -1
    try:
        for sequence, cut in enumerate(cut_segments(source, segment_s)):
            meta = replace(cut.meta, video_id=video_id, sequence=sequence)
            for part in split_segment(meta, cut.data, max_record_bytes=MAX_RECORD_BYTES):
                await sink.add(part)
            await sink.flush()
            last = sequence
            if on_segment is not None:
                on_segment(meta.duration_s)
        if last < 0:
            raise ValueError(f"{source} holds no video packets")
        await sink.add(StreamEnd(video_id, last))
    finally:
        try:
            await sink.close()
        finally:
            await sink.dead_letters.close()
    return {"video_id": video_id, "plan": plan, "segments": last + 1, **sink.counts}
