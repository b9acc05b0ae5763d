"""The ffmpeg command for one segment: one decode, one filter graph feeding every rung, one encoder per rung.

Built here as an argument list (pure, testable); ``connectors.video`` runs it.

The rungs are scaled as a cascade, each from the rung above it (4K -> 1080p
-> 720p -> ...), not each from the source.  Every step then shrinks by at
most 2.25x: on the CPU that cost a third of scaling every rung from 4K (3.4
against 5.2 CPU-seconds for 2 s of 4K60 here), at the same VMAF.
``scaling="direct"`` builds the other shape, the one hand-written ffmpeg
scripts use, for the benchmark's baseline.

>>> from pipelines.video.ladder import DEFAULT_LADDER, sized_ladder
>>> rungs = sized_ladder(DEFAULT_LADDER[:2], 3840, 2160, 60.0)
>>> filter_graph("cpu", rungs)
'[0:v]scale=w=1920:h=1080:flags=bicubic[s0];[s0]split=2[p0][n0];[n0]scale=w=1280:h=720:flags=bicubic[s1];[p0]null[o0];[s1]null[o1]'
>>> filter_graph("nvdec", rungs)
'[0:v]hwdownload,format=nv12,scale=w=1920:h=1080:flags=bicubic[s0];[s0]split=2[p0][n0];[n0]scale=w=1280:h=720:flags=bicubic[s1];[p0]null[o0];[s1]null[o1]'
>>> filter_graph("nvdec", rungs, scaling="direct", gpu_scaler="bicubic")
'[0:v]split=2[i0][i1];[i0]scale_cuda=w=1920:h=1080:interp_algo=bicubic,hwdownload,format=nv12[o0];[i1]scale_cuda=w=1280:h=720:interp_algo=bicubic,hwdownload,format=nv12[o1]'
"""
from __future__ import annotations

from pipelines.video.ladder import SizedRung, TranscodeConfig
from pipelines.video.plans import PLANS

SCALINGS = ("cascade", "direct")
_NVENC_PRESETS = {"ultrafast": "p1", "superfast": "p2", "veryfast": "p3", "faster": "p4", "fast": "p5",
                  "medium": "p6"}


def _scale(on_gpu: bool, rung: SizedRung, gpu_scaler: str) -> str:
    if not on_gpu:
        return f"scale=w={rung.width}:h={rung.height}:flags=bicubic"
    return f"scale_cuda=w={rung.width}:h={rung.height}:interp_algo={gpu_scaler}"


def filter_graph(plan: str, rungs: list[SizedRung], scaling: str = "cascade", gpu_scaler: str = "cpu") -> str:
    """The ``-filter_complex`` text: input ``[0:v]``, outputs ``[o0]``..``[oN-1]`` in rung order.

    ``gpu_scaler="cpu"`` on the nvdec plan downloads the decoded frames and scales them on the CPU.
    """
    if plan not in PLANS:
        raise ValueError(f"unknown plan {plan!r}")
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {', '.join(SCALINGS)}")
    if plan == "nvenc" and gpu_scaler == "cpu":
        gpu_scaler = "bicubic"  # NVENC encodes frames in GPU memory: scale them there
    on_gpu = plan != "cpu" and gpu_scaler != "cpu"
    head = "hwdownload,format=nv12," if plan == "nvdec" and not on_gpu else ""
    finish = "hwdownload,format=nv12" if plan == "nvdec" and on_gpu else "null"
    n = len(rungs)
    if scaling == "direct":
        first = f"[0:v]{head}split={n}" + "".join(f"[i{k}]" for k in range(n)) if n > 1 else f"[0:v]{head}null[i0]"
        tails = [f"[i{k}]{_scale(on_gpu, rung, gpu_scaler)},{finish}[o{k}]".replace(",null[", "[")
                 for k, rung in enumerate(rungs)]
        return ";".join([first] + tails)
    parts = [f"[0:v]{head}{_scale(on_gpu, rungs[0], gpu_scaler)}[s0]"]
    for k in range(1, n):
        parts.append(f"[s{k - 1}]split=2[p{k - 1}][n{k - 1}]")
        parts.append(f"[n{k - 1}]{_scale(on_gpu, rungs[k], gpu_scaler)}[s{k}]")
    for k in range(n):
        source = f"p{k}" if k < n - 1 else f"s{k}"
        parts.append(f"[{source}]{finish}[o{k}]")
    return ";".join(parts)


def decoder_args(plan: str) -> list[str]:
    """Input options: on the GPU plans, decode on NVDEC into GPU memory (the probe opens exactly these)."""
    if plan == "cpu":
        return []
    # The device is made before the input is read, so a process started ahead of its segment has its
    # CUDA context ready when the segment arrives.
    return ["-init_hw_device", "cuda=gpu", "-hwaccel", "cuda", "-hwaccel_device", "gpu",
            "-hwaccel_output_format", "cuda", "-extra_hw_frames", "8"]


def _encoder_args(plan: str, rung: SizedRung, codec: str, preset: str, config: TranscodeConfig) -> list[str]:
    rate = f"{rung.bitrate_kbps}k"
    vbv = f"{int(rung.bitrate_kbps * config.vbv_seconds)}k"
    cbr = ["-b:v", rate, "-minrate", rate, "-maxrate", rate, "-bufsize", vbv]
    if plan == "nvenc":
        name = "h264_nvenc" if codec == "h264" else "hevc_nvenc"
        # One IDR at the start of every segment and none elsewhere, so every rung's keyframes line up.
        return ["-c:v", name, "-preset", _NVENC_PRESETS[preset], "-tune", "ll", "-rc", "cbr", *cbr,
                "-g", "1000000", "-no-scenecut", "1", "-forced-idr", "1"]
    threads = [] if rung.threads is None else ["-threads", str(rung.threads)]
    if codec == "h264":
        return ["-c:v", "libx264", "-preset", preset, "-profile:v", "high", *cbr, *threads,
                "-x264-params", "nal-hrd=cbr:force-cfr=1:scenecut=0:keyint=infinite"]
    pools = [] if rung.threads is None else [f"pools={rung.threads}"]
    x265 = ":".join(["log-level=error", "scenecut=0", "keyint=-1", "open-gop=0", "strict-cbr=1", *pools])
    return ["-c:v", "libx265", "-preset", preset, *cbr, "-x265-params", x265]


def transcode_args(plan: str, rungs: list[SizedRung], outputs: list[str], *, config: TranscodeConfig,
                   preset: str | None = None, source: str = "pipe:0", source_format: str | None = "mpegts",
                   scaling: str = "cascade") -> list[str]:
    """ffmpeg's arguments (without the program) to transcode ``source`` into one MPEG-TS file per rung.

    Timestamps are copied from the source (``-copyts``), so consecutive segments play as one timeline.
    """
    if len(outputs) != len(rungs):
        raise ValueError("one output per rung")
    args = ["-hide_banner", "-nostats", "-loglevel", "error", "-y", *decoder_args(plan), "-copyts"]
    if source_format:
        args += ["-f", source_format]
    args += ["-i", source, "-filter_complex", filter_graph(plan, rungs, scaling, config.gpu_scaler)]
    for k, (rung, output) in enumerate(zip(rungs, outputs)):
        args += ["-map", f"[o{k}]", "-an", "-sn", "-dn",
                 *_encoder_args(plan, rung, config.codec, preset or config.preset, config),
                 "-muxdelay", "0", "-muxpreload", "0", "-f", "mpegts", output]
    return args
