"""Transcode one segment into every rung with one ffmpeg process: the unit of work of the sink.

A segment goes in on ffmpeg's stdin and comes out as one MPEG-TS file per rung
in ``out_dir``.  Each segment is its own process, so a corrupt one fails alone
and the next starts clean; every rung's output begins with an IDR frame, so
keyframes line up across rungs at every segment start.
"""
from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from connectors.video.ffmpeg import FfmpegError, ffmpeg_exe, finish_ffmpeg, start_ffmpeg
from pipelines.clock import SYSTEM_CLOCK, Clock
from pipelines.video.errors import SegmentError
from pipelines.video.graph import transcode_args
from pipelines.video.ladder import SizedRung, TranscodeConfig, sized_ladder

log = logging.getLogger("shardline.video")

SUPPORTED_CODECS = frozenset({"h264", "hevc", "mpeg2video", "vp9", "av1"})
"""Source codecs the sink accepts: ffmpeg decodes them all on the CPU, and NVDEC all but rare profiles."""


@dataclass(frozen=True)
class SourceFormat:
    """What the publisher says about a segment's video (the part records carry it)."""

    codec: str
    width: int
    height: int
    fps: float


@dataclass(frozen=True)
class TranscodedSegment:
    outputs: list[tuple[SizedRung, Path]]
    wall_s: float
    plan: str
    """The plan that produced it (``cpu`` when a GPU plan failed on this segment and the CPU did not)."""
    preset: str


def check_source(source: SourceFormat) -> None:
    """Refuse what no plan can transcode, with a reason a user can act on."""
    if source.codec not in SUPPORTED_CODECS:
        raise SegmentError("unsupported_codec", f"source codec {source.codec!r} is not supported; "
                           f"publish one of {', '.join(sorted(SUPPORTED_CODECS))}")
    if source.width < 2 or source.height < 2 or not 0 < source.fps <= 240:
        raise SegmentError("bad_codec_parameters", "the segment's width, height or frame rate is out of range")


@dataclass
class _Started:
    """An ffmpeg already started for a segment's settings, writing into its own scratch folder."""

    key: tuple
    process: subprocess.Popen
    scratch: Path
    outputs: list[Path]


class SegmentTranscoder:
    """Transcodes one stream's segments, one at a time.  Not shared between streams.

    With ``start_ahead``, the process for the next segment is started while
    the current one runs: its CUDA context (0.3 s and 0.3 CPU-s to open on an
    H200 host), made before it reads its input, is ready when the segment
    arrives.  On that host it cut a lone stream's segments from 2.07 to 1.77 s
    (median) but lost 6-11% of the capacity of a saturated machine, one idle
    context more per stream; so it is off unless asked for.  Call ``close()``
    (or use ``with``) to stop the process started ahead.
    """

    def __init__(self, plan: str, config: TranscodeConfig = TranscodeConfig(), *, exe: str | None = None,
                 clock: Clock = SYSTEM_CLOCK, scaling: str = "cascade", start_ahead: bool = False) -> None:
        self.plan = plan
        self.config = config
        self.exe = exe or ffmpeg_exe()
        self.clock = clock
        self.scaling = scaling
        self.start_ahead = start_ahead
        self.gpu_fallbacks = 0
        self._ahead: _Started | None = None

    def __enter__(self) -> "SegmentTranscoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._ahead is not None:
            _discard(self._ahead)
            self._ahead = None

    def rungs(self, source: SourceFormat, drop_top: bool = False) -> list[SizedRung]:
        rungs = sized_ladder(self.config.ladder, source.width, source.height, source.fps, self.config.codec,
                             self.config)
        return rungs[1:] if drop_top and len(rungs) > 1 else rungs

    def transcode(self, data: bytes, source: SourceFormat, duration_s: float, out_dir: Path, *,
                  name: str = "segment", preset: str | None = None, drop_top: bool = False) -> TranscodedSegment:
        """Transcode ``data`` (one MPEG-TS segment) into ``out_dir/<rung>/<name>.ts`` for every rung."""
        check_source(source)
        rungs = self.rungs(source, drop_top)
        preset = preset or self.config.preset
        timeout = max(30.0, duration_s * self.config.timeout_factor)
        started = self.clock.monotonic()
        plan = self.plan
        try:
            produced = self._run(plan, rungs, preset, data, timeout, ahead=self.start_ahead)
        except FfmpegError as exc:
            if plan == "cpu":
                raise _segment_error(exc) from None
            # A GPU plan can fail on a stream the CPU decodes (a profile NVDEC lacks): try the CPU once.
            log.warning("event=gpu_plan_failed plan=%s cause=%r; retrying the segment on the cpu plan",
                        plan, exc.summary)
            plan = "cpu"
            try:
                produced = self._run(plan, rungs, preset, data, timeout, ahead=False)
            except FfmpegError as cpu_exc:
                raise _segment_error(cpu_exc) from None
            self.gpu_fallbacks += 1
        outputs = []
        for rung, path in zip(rungs, produced.outputs):
            target = out_dir / rung.name / f"{name}.ts"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)  # the scratch folder may be on another filesystem
            outputs.append((rung, target))
        shutil.rmtree(produced.scratch, ignore_errors=True)
        return TranscodedSegment(outputs, self.clock.monotonic() - started, plan, preset)

    def _start(self, plan: str, rungs: list[SizedRung], preset: str) -> _Started:
        scratch = Path(tempfile.mkdtemp(prefix="shardline-segment-"))
        outputs = [scratch / f"{k}.ts" for k in range(len(rungs))]
        args = transcode_args(plan, rungs, [str(p) for p in outputs], config=self.config, preset=preset,
                              scaling=self.scaling)
        return _Started((plan, tuple(rungs), preset), start_ffmpeg(args, self.exe), scratch, outputs)

    def _run(self, plan: str, rungs: list[SizedRung], preset: str, data: bytes, timeout: float,
             ahead: bool) -> _Started:
        key = (plan, tuple(rungs), preset)
        current = self._ahead
        self._ahead = None
        if current is None or current.key != key or current.process.poll() is not None:
            if current is not None:
                _discard(current)
            current = self._start(plan, rungs, preset)
        if ahead:
            self._ahead = self._start(plan, rungs, preset)
        try:
            finish_ffmpeg(current.process, what=f"transcode ({plan})", stdin=data, timeout=timeout)
            for path in current.outputs:
                if not path.exists() or path.stat().st_size == 0:
                    raise FfmpegError(f"transcode ({plan})", 0, "no frames came out of the segment")
        except FfmpegError:
            shutil.rmtree(current.scratch, ignore_errors=True)
            raise
        return current


def _discard(started: _Started) -> None:
    if started.process.poll() is None:
        started.process.kill()
    started.process.communicate()
    shutil.rmtree(started.scratch, ignore_errors=True)


def _segment_error(exc: FfmpegError) -> SegmentError:
    if exc.returncode == -9:
        return SegmentError("transcode_timeout", f"the segment's transcode {exc.summary}")
    return SegmentError("corrupt_segment", f"the segment could not be decoded and transcoded ({exc.summary})")
