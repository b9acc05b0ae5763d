"""The transcoding sink: segment parts in, an HLS ladder per video out.

It is an output sink like the others (``add``, ``flush``, ``close``), so the
local runner's ``run_stream`` and the KCL ``PipelineRecordProcessor`` host it
unchanged, with ``pipelines.video.segments.video_items`` as the pipeline.

- ``add`` reassembles parts; a whole segment is transcoded in a worker thread
  (one at a time per video, videos in parallel) and written as HLS.
- ``flush`` waits for every segment assembled so far to be written, keeps the
  parts of incomplete segments in the output store under ``.pending/`` and
  flushes the dead letters: once it returns, a checkpoint past these records
  loses nothing, and a restarted sink picks the pending parts up again.
- Failures are per segment: a corrupt segment, an unsupported codec, parts
  that never complete, or a video refused at capacity go to the dead letters
  (one letter per part, holding the part's envelope for redrive) and the
  stream carries on.  A store that refuses writes is fatal (``flush`` raises).
"""
from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from connectors.dead_letter import DeadLetter, DeadLetterSink
from connectors.video.hls_store import HlsStore
from connectors.video.hls_writer import HlsWriter
from connectors.video.transcoder import SegmentTranscoder, SourceFormat
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.records import from_avro, to_avro
from pipelines.video.assembly import AbandonedSegment, AssemblyConfig, CompleteSegment, SegmentAssembler
from pipelines.video.errors import PartError, SegmentError
from pipelines.video.governor import Admission, GovernorConfig, StreamGovernor
from pipelines.video.ladder import TranscodeConfig
from pipelines.video.segments import SegmentPart, StreamEnd, from_record, part_record

log = logging.getLogger("shardline.video.sink")
PENDING = ".pending"


@dataclass(frozen=True)
class VideoSinkConfig:
    transcode: TranscodeConfig = field(default_factory=TranscodeConfig)
    """The ladder, codec, preset and scaling of every segment (below)."""
    assembly: AssemblyConfig = field(default_factory=AssemblyConfig)
    """How long parts may take to arrive (below)."""
    governor: GovernorConfig = field(default_factory=GovernorConfig)
    """When a late stream degrades and recovers (below)."""
    max_streams: int = 0
    """Videos transcoded at once; more are refused to the dead letters (0: no limit).  Set it from
    ``shardline bench video``'s streams sustained for your plan and source."""
    stream_idle_s: float = 120.0
    """A video with no part for this long frees its place (and its transcoder) without ending its playlists."""
    start_ahead: bool = False
    """Start each segment's ffmpeg while the previous one runs (lower latency, lower saturated capacity)."""


class VideoSinkMetrics:
    _by_registry: dict[CollectorRegistry, "VideoSinkMetrics"] = {}

    def __init__(self, registry: CollectorRegistry) -> None:
        self.segments = Counter("shardline_video_segments", "Segments by outcome.", ["outcome"], registry=registry)
        self.seconds = Histogram("shardline_video_segment_transcode_seconds", "Wall time to transcode a segment.",
                                 buckets=(0.25, 0.5, 1, 1.5, 1.8, 2, 3, 5, 10, 30), registry=registry)
        self.changes = Counter("shardline_video_ladder_changes", "Streams degraded or recovered.", ["change"],
                               registry=registry)
        self.refused = Counter("shardline_video_admission_refused_parts", "Parts of videos refused at capacity.",
                               registry=registry)
        self.active = Gauge("shardline_video_active_streams", "Videos being transcoded.", registry=registry)
        self.plan = Gauge("shardline_video_plan_info", "The transcoding plan in use (1 for the plan).", ["plan"],
                          registry=registry)

    @classmethod
    def for_registry(cls, registry: CollectorRegistry | None) -> "VideoSinkMetrics":
        registry = REGISTRY if registry is None else registry
        if registry not in cls._by_registry:
            cls._by_registry[registry] = cls(registry)
        return cls._by_registry[registry]


@dataclass
class _Video:
    transcoder: SegmentTranscoder
    governor: StreamGovernor
    last_part: float
    tail: asyncio.Task | None = None
    """The video's last scheduled task: the next one waits for it, so segments are written in order."""


class VideoSink:
    def __init__(self, store: HlsStore, plan: str, dead_letters: DeadLetterSink, *,
                 config: VideoSinkConfig = VideoSinkConfig(), clock: Clock = SYSTEM_CLOCK,
                 registry: CollectorRegistry | None = None, exe: str | None = None,
                 spool_scope: str = "runner") -> None:
        """``spool_scope`` names whose pending parts this sink keeps and restores: one per worker that owns
        its videos (the KCL processor uses its shard id), so two workers never pick up each other's parts."""
        self.store = store
        self.spool_scope = spool_scope
        self.plan = plan
        self.dead_letters = dead_letters
        self.config = config
        self.clock = clock
        self.exe = exe
        self.writer = HlsWriter(store, config.transcode.codec)
        self.assembler = SegmentAssembler(config.assembly, clock)
        self.admission = Admission(config.max_streams)
        self.metrics = VideoSinkMetrics.for_registry(registry)
        self.metrics.plan.labels(plan).set(1)
        self.counts = {"transcoded": 0, "dead_lettered_segments": 0, "dead_lettered_parts": 0, "duplicates": 0,
                       "degraded": 0, "recovered": 0, "gpu_fallbacks": 0, "refused_parts": 0}
        self._videos: dict[str, _Video] = {}
        self._tasks: set[asyncio.Task] = set()
        self._failure: BaseException | None = None
        self._spooled: set[str] = set()
        self._opened = False
        self._scratch = Path(tempfile.mkdtemp(prefix="shardline-video-sink-"))

    # -- the sink contract ------------------------------------------------------------------------
    async def add(self, item: SegmentPart | StreamEnd) -> None:
        await self._open()
        self._raise_failure()
        if isinstance(item, StreamEnd):
            self._end(item)
        else:
            await self._add_part(item)
        await self._expire()

    async def flush(self) -> None:
        await self._open()
        await self._expire()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        self._raise_failure()
        await self._spool()
        await self.dead_letters.flush()

    async def close(self) -> None:
        try:
            await self.flush()
        finally:
            for video in self._videos.values():
                video.transcoder.close()
            self._videos.clear()
            shutil.rmtree(self._scratch, ignore_errors=True)
            await self.store.close()

    # -- parts ------------------------------------------------------------------------------------
    async def _add_part(self, part: SegmentPart) -> None:
        video_id = part.meta.video_id
        if not self.admission.admit(video_id):
            self.metrics.refused.inc()
            self.counts["refused_parts"] += 1
            await self._dead_letter_parts([part], "admission_refused",
                                          f"video {video_id} was refused: the sink is transcoding its capacity of "
                                          f"{self.config.max_streams} streams")
            return
        self._video(video_id).last_part = self.clock.monotonic()
        done = self.assembler.add(part)
        if isinstance(done, CompleteSegment):
            self._schedule(video_id, self._transcode(done))
        elif isinstance(done, AbandonedSegment):
            await self._abandon(done)

    def _video(self, video_id: str) -> _Video:
        if video_id not in self._videos:
            transcode = self.config.transcode
            self._videos[video_id] = _Video(
                SegmentTranscoder(self.plan, transcode, exe=self.exe, clock=self.clock,
                                  start_ahead=self.config.start_ahead),
                StreamGovernor(self.config.governor, transcode.preset, transcode.faster_preset),
                self.clock.monotonic())
            self.metrics.active.set(len(self._videos))
        return self._videos[video_id]

    def _schedule(self, video_id: str, work) -> None:
        video = self._video(video_id)
        previous = video.tail

        async def in_order() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            await work

        task = asyncio.create_task(in_order())
        video.tail = task
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _end(self, end: StreamEnd) -> None:
        async def finish() -> None:
            await self.writer.end(end.video_id)
            video = self._videos.pop(end.video_id, None)
            if video is not None:
                video.transcoder.close()
            self.metrics.active.set(len(self._videos))
            log.info("event=video_ended video_id=%s last_sequence=%d", end.video_id, end.last_sequence)
        self._schedule(end.video_id, finish())
        self.admission.release(end.video_id)

    # -- segments ---------------------------------------------------------------------------------
    async def _transcode(self, segment: CompleteSegment) -> None:
        meta = segment.meta
        playlists = await self.writer.playlists(meta.video_id)
        if playlists.has(meta.sequence):  # a replay after a restart: already written
            self.counts["duplicates"] += 1
            self.metrics.segments.labels("duplicate").inc()
            return
        video = self._video(meta.video_id)
        preset, drop_top = video.governor.settings()
        source = SourceFormat(meta.codec, meta.width, meta.height, meta.fps)
        scratch = self._scratch / f"{meta.video_id}-{meta.sequence}"
        fallbacks = video.transcoder.gpu_fallbacks
        try:
            done = await asyncio.to_thread(video.transcoder.transcode, segment.data, source, meta.duration_s, scratch,
                                           name=f"seg{meta.sequence:08d}", preset=preset, drop_top=drop_top)
        except SegmentError as exc:
            await self._dead_letter_parts(list(segment.parts), exc.error_type,
                                          f"segment {meta.sequence} of video {meta.video_id}: {exc.reason}")
            self._count_dead_segment()
            return
        finally:
            self.counts["gpu_fallbacks"] += video.transcoder.gpu_fallbacks - fallbacks
        try:
            await self.writer.write_segment(meta, done.outputs, video.transcoder.rungs(source))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        self.counts["transcoded"] += 1
        self.metrics.segments.labels("transcoded").inc()
        self.metrics.seconds.observe(done.wall_s)
        change = video.governor.record(done.wall_s, meta.duration_s)
        if change:
            self.counts[change] += 1
            self.metrics.changes.labels(change).inc()
            preset, drop_top = video.governor.settings()
            log.warning("event=video_ladder_%s video_id=%s wall_s=%.2f duration_s=%.2f preset=%s top_rung=%s",
                        change, meta.video_id, done.wall_s, meta.duration_s, preset, "off" if drop_top else "on")

    async def _abandon(self, abandoned: AbandonedSegment) -> None:
        await self._dead_letter_parts(list(abandoned.parts), abandoned.error_type, abandoned.reason)
        self._count_dead_segment()

    def _count_dead_segment(self) -> None:
        self.counts["dead_lettered_segments"] += 1
        self.metrics.segments.labels("dead_lettered").inc()

    async def _dead_letter_parts(self, parts: list[SegmentPart], error_type: str, reason: str) -> None:
        for part in parts:
            source = f"video:{part.meta.video_id}/segment {part.meta.sequence}/part {part.part_index}"
            await self.dead_letters.put(DeadLetter(reason=reason, error_type=error_type, source=source, attempts=1,
                                                   data=to_avro(part_record(part)), time=self.clock.time()))
            self.counts["dead_lettered_parts"] += 1

    async def _expire(self) -> None:
        for abandoned in self.assembler.expire():
            await self._abandon(abandoned)
        now = self.clock.monotonic()
        for video_id, video in list(self._videos.items()):
            if now - video.last_part > self.config.stream_idle_s and (video.tail is None or video.tail.done()):
                video.transcoder.close()
                del self._videos[video_id]
                self.admission.release(video_id)
        self.metrics.active.set(len(self._videos))

    # -- incomplete segments survive a restart -------------------------------------------------------
    def _pending_key(self, part: SegmentPart) -> str:
        return (f"{PENDING}/{self.spool_scope}/{part.meta.video_id}/{part.meta.sequence:08d}/"
                f"{part.part_index:05d}.part")

    async def _spool(self) -> None:
        pending = {self._pending_key(part): part for part in self.assembler.pending_parts()}
        for key, part in pending.items():
            if key not in self._spooled:
                await self.store.put(key, to_avro(part_record(part)))
                self._spooled.add(key)
        for key in self._spooled - set(pending):
            await self.store.delete(key)
            self._spooled.discard(key)

    async def _open(self) -> None:
        if self._opened:
            return
        self._opened = True
        for key in await self.store.keys(f"{PENDING}/{self.spool_scope}/"):
            data = await self.store.get(key)
            try:
                part = from_record(from_avro(data or b""))
            except (PartError, ValueError):
                log.warning("event=pending_part_unreadable key=%s", key)
                continue
            self._spooled.add(key)
            await self._add_part(part)
        if self._spooled:
            log.info("event=pending_parts_restored parts=%d", len(self._spooled))
