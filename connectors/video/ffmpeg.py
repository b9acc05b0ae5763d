"""The ffmpeg binary: where it is, running it, and the capability probe that picks a plan.

We drive the static ffmpeg that ``imageio-ffmpeg`` ships (it has NVDEC,
``scale_cuda``, NVENC, x264, x265 and libvmaf) as filter graphs.  PyAV reads
and cuts containers in the publisher, but its wheel has no ``scale_cuda``, and
a per-frame Python loop managed only about two 1080p30 ladders on 16 cores.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipelines.video.graph import decoder_args
from pipelines.video.plans import Capabilities

INSTALL_HINT = "pip install 'shardline[video]'"
FFMPEG_ENV = "SHARDLINE_FFMPEG"
"""Set to an ffmpeg binary to use it instead of imageio-ffmpeg's (it needs scale_cuda for the GPU plans)."""


class FfmpegMissingError(RuntimeError):
    pass


class FfmpegError(RuntimeError):
    """ffmpeg exited non-zero.  ``summary`` is its first error line (about the media, never its bytes)."""

    def __init__(self, what: str, returncode: int, summary: str) -> None:
        super().__init__(f"{what} failed (ffmpeg exit {returncode}): {summary or 'no message'}")
        self.returncode = returncode
        self.summary = summary


def ffmpeg_exe() -> str:
    """The ffmpeg to run: ``$SHARDLINE_FFMPEG``, else imageio-ffmpeg's static build."""
    chosen = os.environ.get(FFMPEG_ENV)
    if chosen:
        if not (shutil.which(chosen) or Path(chosen).is_file()):
            raise FfmpegMissingError(f"{FFMPEG_ENV}={chosen} is not an executable file")
        return chosen
    try:
        import imageio_ffmpeg
    except ImportError:
        raise FfmpegMissingError(f"the video sink needs ffmpeg: {INSTALL_HINT}") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


_CONTEXT = re.compile(r"^(\[[^\]]* @ 0x[0-9a-f]+\] ?)+")


def error_summary(stderr: bytes | str) -> str:
    """ffmpeg's first error line without its ``[component @ 0x...]`` prefixes: the cause, not the fallout."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    for line in text.splitlines():
        line = _CONTEXT.sub("", line.strip())
        if line:
            return line[:300]
    return ""


def start_ffmpeg(args: list[str], exe: str | None = None) -> subprocess.Popen:
    """Start ffmpeg with ``args``, stdin a pipe: it initialises (a CUDA device, say) while it waits for input."""
    return subprocess.Popen([exe or ffmpeg_exe(), *args], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def finish_ffmpeg(process: subprocess.Popen, *, what: str, stdin: bytes | None = None,
                  timeout: float | None = None) -> None:
    """Feed ``stdin`` to a started ffmpeg and wait; raise ``FfmpegError`` naming ``what`` on failure or timeout."""
    try:
        _, stderr = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise FfmpegError(what, -9, f"timed out after {timeout:.0f} s") from None
    except BrokenPipeError:  # it exited before reading everything: its stderr says why
        stderr = process.stderr.read() if process.stderr else b""
        process.wait()
    if process.returncode != 0:
        raise FfmpegError(what, process.returncode, error_summary(stderr))


def run_ffmpeg(args: list[str], *, what: str, stdin: bytes | None = None, timeout: float | None = None,
               exe: str | None = None) -> None:
    """Run ffmpeg with ``args`` to the end; raise ``FfmpegError`` naming ``what`` on failure or timeout."""
    finish_ffmpeg(start_ffmpeg(args, exe), what=what, stdin=stdin or b"", timeout=timeout)


def synthetic_source_args(size: str, fps: int, seconds: float, out: str, *, gop_seconds: float = 2.0,
                          grain: int = 8, crf: int = 20) -> list[str]:
    """A deterministic H.264 MPEG-TS test clip: ffmpeg's ``testsrc2`` with temporal grain.

    The grain matters: a clean test pattern costs an encoder a fraction of what
    camera footage does, so a benchmark on it would flatter every plan.
    """
    gop = max(1, int(round(gop_seconds * fps)))
    return ["-hide_banner", "-nostats", "-loglevel", "error", "-y", "-f", "lavfi",
            "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}",
            "-vf", f"noise=alls={grain}:allf=t+u:all_seed=7" if grain else "null",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-f", "mpegts", out]


# --- the capability probe ----------------------------------------------------

@dataclass(frozen=True)
class ProbeConfig:
    timeout_s: float = 30.0
    """Each check (decode, encode) is abandoned after this long; a hung driver means 'not available'."""


def _check(args: list[str], exe: str, timeout: float) -> str:
    try:
        run_ffmpeg(args, what="probe", exe=exe, timeout=timeout)
        return "ok"
    except FfmpegError as exc:
        return exc.summary or f"exit {exc.returncode}"
    except OSError as exc:
        return f"{type(exc).__name__}: cannot run ffmpeg"


def gpu_name() -> str | None:
    """The first GPU's name from nvidia-smi, for display; None where there is none."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def probe_capabilities(config: ProbeConfig = ProbeConfig(), exe: str | None = None) -> Capabilities:
    """Open what each plan needs on this machine: decode H.264 on NVDEC, scale on the GPU, open NVENC.

    Each check runs ffmpeg on a tiny clip; nothing is inferred from a device name.
    """
    exe = exe or ffmpeg_exe()
    details: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="shardline-probe-") as tmp:
        clip = str(Path(tmp) / "probe.ts")
        made = _check(synthetic_source_args("256x144", 30, 0.5, clip, grain=0), exe, config.timeout_s)
        if made != "ok":
            raise FfmpegMissingError(f"ffmpeg cannot encode a test clip with libx264: {made}")
        hw_in = ["-hide_banner", "-nostats", "-loglevel", "error", *decoder_args("nvdec"), "-i", clip]
        details["nvdec"] = _check([*hw_in, "-vf", "hwdownload,format=nv12", "-f", "null", "-"], exe,
                                  config.timeout_s)
        details["scale_cuda"] = "not tried (no NVDEC)"
        if details["nvdec"] == "ok":
            details["scale_cuda"] = _check(
                [*hw_in, "-vf", "scale_cuda=w=128:h=72:interp_algo=bicubic,hwdownload,format=nv12",
                 "-f", "null", "-"], exe, config.timeout_s)
        nvenc = {}
        for codec, encoder in (("h264", "h264_nvenc"), ("hevc", "hevc_nvenc")):
            key = f"nvenc_{codec}"
            details[key] = _check(["-hide_banner", "-nostats", "-loglevel", "error", "-f", "lavfi", "-i",
                                   "color=c=gray:size=256x144:rate=30:duration=0.2", "-c:v", encoder,
                                   "-f", "null", "-"], exe, config.timeout_s)
            nvenc[codec] = details[key] == "ok"
    return Capabilities(nvdec=details["nvdec"] == "ok", scale_cuda=details["scale_cuda"] == "ok",
                        nvenc=nvenc, device=gpu_name(), details=details)
