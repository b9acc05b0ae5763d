"""The bitrate ladder and the transcoding settings, with every default in one place.

>>> [rung.name for rung in DEFAULT_LADDER]
['1080p', '720p', '480p', '360p', '160p']
>>> [(r.rung.name, r.width, r.height, r.bitrate_kbps) for r in sized_ladder(DEFAULT_LADDER, 3840, 2160, 60.0)][:2]
[('1080p', 1920, 1080, 9000), ('720p', 1280, 720, 4500)]
>>> [r.rung.name for r in sized_ladder(DEFAULT_LADDER, 1280, 720, 30.0)]
['720p', '480p', '360p', '160p']
"""
from __future__ import annotations

from dataclasses import dataclass, field

CODECS = ("h264", "hevc")
GPU_SCALERS = ("cpu", "bicubic", "bilinear", "lanczos")
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")


@dataclass(frozen=True)
class LadderRung:
    """One rendition of the ladder: its height and its H.264 bitrate at up to 30 fps."""

    height: int
    bitrate_kbps: int

    @property
    def name(self) -> str:
        return f"{self.height}p"


DEFAULT_LADDER: tuple[LadderRung, ...] = (
    LadderRung(1080, 6000),
    LadderRung(720, 3000),
    LadderRung(480, 1200),
    LadderRung(360, 700),
    LadderRung(160, 200),
)
"""1080p, 720p, 480p, 360p, 160p; bitrates near Apple's HLS authoring table for 30 fps H.264."""


@dataclass(frozen=True)
class TranscodeConfig:
    """How every segment is transcoded.  One decode feeds all rungs; rate control is CBR (live)."""

    ladder: tuple[LadderRung, ...] = DEFAULT_LADDER
    """The rungs, largest first.  Rungs taller than the source are left out (never upscaled)."""
    codec: str = "h264"
    """``h264`` (libx264, or h264_nvenc on the nvenc plan) or ``hevc`` (libx265 / hevc_nvenc)."""
    preset: str = "veryfast"
    """The x264/x265 preset; the nvenc plan maps it to an NVENC preset of similar speed."""
    faster_preset: str = "superfast"
    """The preset used while degraded (a segment took longer than ``deadline_fraction`` of its duration)."""
    high_frame_rate_factor: float = 1.5
    """Bitrates are multiplied by this above 30 fps (60 fps needs more bits, not twice as many)."""
    hevc_bitrate_factor: float = 0.6
    """HEVC reaches H.264's quality at about this fraction of the bitrate."""
    vbv_seconds: float = 1.0
    """The CBR buffer (VBV) holds this many seconds at the rung's bitrate."""
    gpu_scaler: str = "cpu"
    """How the nvdec plan scales: ``cpu`` downloads each decoded frame once and scales with swscale, as the cpu
    plan does; ``bicubic``, ``bilinear`` or ``lanczos`` scale on the GPU with scale_cuda.  On an H200 host,
    scale_cuda cost 2 to 26 VMAF points per rung against swscale (its bicubic and lanczos are 4-tap
    interpolators that alias when they shrink; its bilinear is a tent that blurs), while swscale after NVDEC
    matched the cpu plan's VMAF.  The nvenc plan keeps frames on the GPU: it uses ``bicubic`` for ``cpu``."""
    encoder_threads: str = "auto"
    """``auto``: threads per rung in proportion to its pixels (many parallel encoders waste less than a few
    wide ones); ``default``: let each encoder choose (about 1.5 per core each); or an integer for every rung."""
    timeout_factor: float = 10.0
    """A segment whose transcode runs longer than this many times its duration is killed and dead-lettered."""

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise ValueError(f"codec must be one of {', '.join(CODECS)}, got {self.codec!r}")
        for name in ("preset", "faster_preset"):
            if getattr(self, name) not in PRESETS:
                raise ValueError(f"{name} must be one of {', '.join(PRESETS)}, got {getattr(self, name)!r}")
        if not self.ladder:
            raise ValueError("the ladder needs at least one rung")
        heights = [rung.height for rung in self.ladder]
        if heights != sorted(heights, reverse=True) or len(set(heights)) != len(heights):
            raise ValueError("ladder rungs must be listed tallest first, one per height")
        if self.gpu_scaler not in GPU_SCALERS:
            raise ValueError(f"gpu_scaler must be one of {', '.join(GPU_SCALERS)}, got {self.gpu_scaler!r}")
        if self.encoder_threads not in ("auto", "default") and not self.encoder_threads.isdigit():
            raise ValueError("encoder_threads must be 'auto', 'default' or a number of threads")


@dataclass(frozen=True)
class SizedRung:
    """A rung fitted to one source: output size, bitrate and encoder threads."""

    rung: LadderRung
    width: int
    height: int
    bitrate_kbps: int
    threads: int | None = field(default=None)
    """Encoder threads; None lets the encoder choose."""

    @property
    def name(self) -> str:
        return self.rung.name


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def sized_ladder(ladder: tuple[LadderRung, ...], source_width: int, source_height: int, fps: float,
                 codec: str = "h264", config: TranscodeConfig | None = None) -> list[SizedRung]:
    """The rungs no taller than the source, each with an even width that keeps the source's aspect ratio."""
    config = config or TranscodeConfig(ladder=ladder, codec=codec)
    factor = config.high_frame_rate_factor if fps > 31 else 1.0
    if codec == "hevc":
        factor *= config.hevc_bitrate_factor
    rungs = [rung for rung in ladder if rung.height <= source_height] or [ladder[-1]]
    sized = [SizedRung(rung, _even(source_width * rung.height / source_height), rung.height,
                       int(round(rung.bitrate_kbps * factor))) for rung in rungs]
    return [_with_threads(r, config.encoder_threads) for r in sized]


# About this many pixels a frame per encoder thread: x264's frame threads lose efficiency as they wait on
# each other's reference rows, so with many streams in parallel fewer, fuller threads do more per core.
_PIXELS_PER_THREAD = 450_000


def _with_threads(rung: SizedRung, setting: str) -> SizedRung:
    if setting == "default":
        return rung
    threads = int(setting) if setting.isdigit() else max(1, -(-rung.width * rung.height // _PIXELS_PER_THREAD))
    return SizedRung(rung.rung, rung.width, rung.height, rung.bitrate_kbps, threads)
