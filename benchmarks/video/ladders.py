"""Live ABR ladders: how many real-time streams each plan sustains on this machine, at what quality and cost.

Every plan the probe finds runs in the same run on the same synthetic clip,
through the sink's own unit of work (``SegmentTranscoder``: one ffmpeg per
2-second segment, one decode feeding every rung), beside two baselines that
are what a hand-written ffmpeg script does: every rung scaled from the source
and every encoder left to pick its own thread count (``*-script``).

- **Streams sustained**: the largest N parallel streams, each transcoding its
  segments one after another as a live stream would, whose wall time stays at
  or below ``deadline_fraction`` (0.9) of the content's duration.
- **Real-time ladders**: content seconds transcoded per wall second with the
  machine saturated (``saturation_streams`` in parallel): the capacity figure
  that N rounds down.
- **Fps per rung**: one stream, one rung, the whole clip.
- **PSNR and VMAF per rung** (libvmaf): each rung upscaled to 1080p against the
  source scaled to 1080p with lanczos.
- **Cost per million frames** from an instance price table.

Run ``python -m benchmarks.video.ladders --help``; ``benchmarks/video/gpu_check.sh``
is the prepared run for a machine with an NVIDIA data-center GPU.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from benchmarks.report import RESULTS_DIR, write_results
from connectors.video.ffmpeg import FfmpegError, ffmpeg_exe, probe_capabilities, run_ffmpeg, synthetic_source_args
from connectors.video.transcoder import SegmentTranscoder, SourceFormat
from pipelines.video.governor import GovernorConfig
from pipelines.video.ladder import TranscodeConfig
from pipelines.video.plans import available_plans

SOURCES = {"4k60": ("3840x2160", 60), "1080p60": ("1920x1080", 60), "1080p30": ("1920x1080", 30),
           "720p30": ("1280x720", 30)}

PRICES_USD_PER_HOUR = {
    "c6i.4xlarge": 0.68,
    "c6i.12xlarge": 2.1888,
    "g4dn.xlarge": 0.587,
    "p5.4xlarge": 6.88,
}
"""On-demand us-east-1 list prices (check current ones; ``--price NAME=USD`` overrides or adds)."""
HOST_FOR_PLAN = {"cpu": "c6i.4xlarge", "nvdec": "p5.4xlarge", "nvenc": "g4dn.xlarge"}
"""The instance a plan is priced on: 16 vCPUs for cpu, one Hopper GPU with 16 vCPUs for nvdec, a T4 for nvenc."""


@dataclass(frozen=True)
class Contender:
    name: str
    plan: str
    scaling: str = "cascade"
    encoder_threads: str = "auto"
    gpu_scaler: str = TranscodeConfig().gpu_scaler
    start_ahead: str = "off"
    """``on`` starts each segment's ffmpeg while the previous segment runs (see ``SegmentTranscoder``)."""

    def transcode_config(self, config: "VideoBenchConfig") -> TranscodeConfig:
        return TranscodeConfig(codec=config.codec, preset=config.preset, encoder_threads=self.encoder_threads,
                               gpu_scaler=self.gpu_scaler)

    def transcoder(self, config: "VideoBenchConfig", exe: str, transcode: TranscodeConfig | None = None):
        return SegmentTranscoder(self.plan, transcode or self.transcode_config(config), exe=exe,
                                 scaling=self.scaling, start_ahead=self.start_ahead == "on")

    @property
    def is_baseline(self) -> bool:
        return self.name.endswith("-script")


@dataclass(frozen=True)
class VideoBenchConfig:
    source: str = "4k60"
    """A synthetic source from SOURCES."""
    segments: int = 3
    """Segments per stream (each ``segment_s`` long)."""
    segment_s: float = 2.0
    saturation_streams: int = 8
    """Streams in parallel for the capacity (real-time ladders) run."""
    max_streams: int = 24
    codec: str = "h264"
    preset: str = "veryfast"
    plans: tuple[str, ...] = ()
    """Plans to run; empty = every plan the probe finds."""
    baselines: bool = True
    """Also run each plan the way a hand-written ffmpeg script does (``<plan>-script``)."""
    encoder_threads: str = "auto"
    """Encoder threads of the plans' own runs (the baselines always leave it to each encoder)."""
    gpu_scaler: str = TranscodeConfig().gpu_scaler
    """Where and how the GPU plans' own runs scale (``cpu``: download the decoded frames, scale with swscale)."""
    variants: tuple[Contender, ...] = ()
    """More contenders (throughput only), e.g. a plan with other encoder threads, to see what each change buys."""
    quality_variants: tuple[Contender, ...] = ()
    """More contenders (quality only), e.g. another GPU scaler: scaling on the GPU costs the CPU nothing."""
    quality: bool = True
    """PSNR and VMAF per rung (needs libvmaf in ffmpeg)."""
    vmaf_subsample: int = 2
    fps_per_rung: bool = True
    prices: dict[str, float] = field(default_factory=lambda: dict(PRICES_USD_PER_HOUR))


def _cut_segments(exe: str, clip: Path, out_dir: Path, frames_per_segment: int, count: int) -> list[bytes]:
    """Cut the clip at its keyframes (one every segment) into MPEG-TS segments, timestamps kept."""
    marks = ",".join(str(frames_per_segment * k) for k in range(1, count))
    run_ffmpeg(["-hide_banner", "-loglevel", "error", "-y", "-i", str(clip), "-c", "copy", "-map", "0:v",
                "-f", "segment", "-segment_format", "mpegts", "-segment_frames", marks,
                str(out_dir / "src%03d.ts")], what="cut segments", exe=exe)
    return [(out_dir / f"src{k:03d}.ts").read_bytes() for k in range(count)]


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_streams(contender: Contender, streams: int, segments: list[bytes], source: SourceFormat,
                config: VideoBenchConfig, exe: str, work: Path) -> dict:
    """``streams`` live streams in parallel, each transcoding every segment in order; wall and per-segment times."""
    fallbacks = []

    def one_stream(index: int) -> list[float]:
        out = work / f"{contender.name}-n{streams}-s{index}"
        walls = []
        with contender.transcoder(config, exe) as transcoder:
            for seq, data in enumerate(segments):
                walls.append(transcoder.transcode(data, source, config.segment_s, out, name=f"seg{seq:05d}").wall_s)
            fallbacks.append(transcoder.gpu_fallbacks)
        return walls

    cpu_before = _children_cpu_s()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=streams) as pool:
        walls = list(pool.map(one_stream, range(streams)))
    wall = time.monotonic() - started
    content = len(segments) * config.segment_s
    for index in range(streams):
        shutil.rmtree(work / f"{contender.name}-n{streams}-s{index}", ignore_errors=True)
    segment_walls = [w for stream in walls for w in stream]
    return {"streams": streams, "wall_s": round(wall, 3), "content_s": content,
            "sustained": wall <= GovernorConfig().deadline_fraction * content,
            "realtime_ladders": round(streams * content / wall, 3),
            "segment_wall_median_s": round(statistics.median(segment_walls), 3),
            "segment_wall_max_s": round(max(segment_walls), 3),
            "cpu_s_per_content_s": round((_children_cpu_s() - cpu_before) / (streams * content), 3),
            "gpu_fallbacks": sum(fallbacks)}


def streams_sustained(contender: Contender, segments: list[bytes], source: SourceFormat, config: VideoBenchConfig,
                      exe: str, work: Path, log) -> dict:
    """Saturate the machine for the capacity figure, then step N from it to the largest that keeps the deadline."""
    trials = []
    streams = config.saturation_streams
    while True:  # until the machine cannot keep up: that run's rate is the capacity
        saturated = run_streams(contender, streams, segments, source, config, exe, work)
        trials.append(saturated)
        log(f"{contender.name}: {streams} streams -> {saturated['realtime_ladders']} real-time ladders")
        if not saturated["sustained"] or streams >= config.max_streams:
            break
        streams = min(config.max_streams, streams * 2)
    tried = {t["streams"]: t for t in trials}
    n = max(1, min(config.max_streams, math.floor(saturated["realtime_ladders"] * 0.9)))
    best = 0
    while 1 <= n <= config.max_streams:
        trial = tried.get(n) or run_streams(contender, n, segments, source, config, exe, work)
        if n not in tried:
            trials.append(trial)
            tried[n] = trial
            log(f"{contender.name}: {n} streams in {trial['wall_s']} s "
                f"({'sustained' if trial['sustained'] else 'too slow'})")
        if trial["sustained"]:
            best = max(best, n)
            if (n + 1) in tried and not tried[n + 1]["sustained"]:
                break
            n += 1
        else:
            if (n - 1) in tried and tried[n - 1]["sustained"] or n == 1:
                break
            n -= 1
    capacity = max(t["realtime_ladders"] for t in trials)
    return {"streams_sustained": best, "realtime_ladders": capacity, "trials": trials}


def fps_per_rung(contender: Contender, clip: Path, source: SourceFormat, config: VideoBenchConfig, exe: str,
                 work: Path) -> dict[str, float]:
    """One stream, one rung at a time, over the whole clip: decode + scale + encode frames per second."""
    transcode = contender.transcode_config(config)
    results = {}
    data = clip.read_bytes()
    frames = config.segments * config.segment_s * source.fps
    for k, rung in enumerate(contender.transcoder(config, exe).rungs(source)):
        with contender.transcoder(config, exe, replace(transcode, ladder=(rung.rung,))) as transcoder:
            done = transcoder.transcode(data, source, config.segments * config.segment_s,
                                        work / f"fps-{contender.name}", name=f"rung{k}")
        results[rung.name] = round(frames / done.wall_s, 1)
    return results


def quality(contender: Contender, clip: Path, source: SourceFormat, config: VideoBenchConfig, exe: str,
            work: Path) -> dict[str, dict[str, float]]:
    """PSNR-Y and VMAF per rung: every rung of one stream's segments against the source, at 1080p."""
    out = work / f"quality-{contender.name}"
    segments = sorted((work / "segments").glob("src*.ts"))
    with contender.transcoder(config, exe) as transcoder:
        for seq, path in enumerate(segments):
            transcoder.transcode(path.read_bytes(), source, config.segment_s, out, name=f"seg{seq:05d}")
        rungs = transcoder.rungs(source)
    inputs = ["-i", str(clip)]
    for rung in rungs:
        joined = out / f"{rung.name}.ts"  # MPEG-TS segments concatenate into one stream
        joined.write_bytes(b"".join(p.read_bytes() for p in sorted((out / rung.name).glob("seg*.ts"))))
        inputs += ["-i", str(joined)]
    n = len(rungs)
    graph = [f"[0:v]scale=1920:1080:flags=lanczos,setpts=PTS-STARTPTS,split={n}" + "".join(f"[r{k}]" for k in range(n))]
    maps = []
    threads = max(1, (os.cpu_count() or 2) // n)
    for k in range(n):
        log_path = out / f"vmaf{k}.json"
        graph.append(f"[{k + 1}:v]scale=1920:1080:flags=bicubic,setpts=PTS-STARTPTS[d{k}]")
        graph.append(f"[d{k}][r{k}]libvmaf=log_path={log_path}:log_fmt=json:n_threads={threads}:"
                     f"n_subsample={config.vmaf_subsample}:feature=name=psnr[x{k}]")
        maps += ["-map", f"[x{k}]", "-f", "null", "-"]
    run_ffmpeg(["-hide_banner", "-nostats", "-loglevel", "error", *inputs, "-filter_complex", ";".join(graph), *maps],
               what="vmaf", exe=exe)
    scores = {}
    for k, rung in enumerate(rungs):
        pooled = json.loads((out / f"vmaf{k}.json").read_text())["pooled_metrics"]
        scores[rung.name] = {"vmaf": round(pooled["vmaf"]["mean"], 2), "psnr_y": round(pooled["psnr_y"]["mean"], 2)}
    return scores


def cost_per_million_frames(plan: str, realtime_ladders: float, fps: float, prices: dict[str, float]) -> dict:
    host = HOST_FOR_PLAN.get(plan)
    if host not in prices or realtime_ladders <= 0:
        return {"instance": host, "usd": None}
    frames_per_hour = realtime_ladders * fps * 3600
    return {"instance": host, "usd_per_hour": prices[host],
            "usd": round(prices[host] / frames_per_hour * 1e6, 4)}


def contenders_for(plans: list[str], baselines: bool, encoder_threads: str = "auto",
                   gpu_scaler: str = TranscodeConfig().gpu_scaler) -> list[Contender]:
    out = []
    for plan in plans:
        out.append(Contender(plan, plan, encoder_threads=encoder_threads, gpu_scaler=gpu_scaler))
        if baselines and plan != "nvenc":
            out.append(Contender(f"{plan}-script", plan, scaling="direct", encoder_threads="default"))
    return out


def run(config: VideoBenchConfig, out_dir: Path | None = RESULTS_DIR, log=print) -> dict:
    exe = ffmpeg_exe()
    caps = probe_capabilities(exe=exe)
    found = available_plans(caps, config.codec)
    plans = [p for p in (config.plans or found) if p in found]
    skipped = [p for p in config.plans if p not in found]
    log(f"probe: {json.dumps(caps.as_dict())}; plans: {plans}")
    size, fps = SOURCES[config.source]
    width, height = (int(v) for v in size.split("x"))
    source = SourceFormat("h264", width, height, float(fps))
    result: dict = {"benchmark": "video_ladders", "config": {k: v for k, v in asdict(config).items()},
                    "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                                "gpu": caps.device},
                    "probe": caps.as_dict(), "plans_skipped": skipped, "contenders": {}}
    with tempfile.TemporaryDirectory(prefix="shardline-video-bench-") as tmp:
        work = Path(tmp)
        clip = work / "source.ts"
        seconds = config.segments * config.segment_s
        started = time.monotonic()
        run_ffmpeg(synthetic_source_args(size, fps, seconds, str(clip), gop_seconds=config.segment_s), what="source",
                   exe=exe)
        (work / "segments").mkdir()
        segments = _cut_segments(exe, clip, work / "segments", int(config.segment_s * fps), config.segments)
        log(f"source: {config.source}, {seconds:.0f} s in {len(segments)} segments, made in "
            f"{time.monotonic() - started:.1f} s")
        variants = [v for v in config.variants if v.plan in plans]
        for contender in [v for v in config.quality_variants if v.plan in plans]:
            try:
                result["contenders"][contender.name] = {**asdict(contender), "quality_only": True,
                                                         "quality": quality(contender, clip, source, config, exe, work)}
            except (FfmpegError, OSError, ValueError) as exc:
                result["contenders"][contender.name] = {**asdict(contender), "error": f"{type(exc).__name__}: {exc}"}
            log(f"{contender.name}: {json.dumps(result['contenders'][contender.name].get('quality'))}")
        for contender in contenders_for(plans, config.baselines, config.encoder_threads, config.gpu_scaler) + variants:
            entry: dict = {**asdict(contender), "baseline": contender.is_baseline}
            try:
                run_streams(contender, 1, segments[:1], source, config, exe, work)  # warm caches and the driver
                entry.update(streams_sustained(contender, segments, source, config, exe, work, log))
                if contender.name in plans:
                    if config.fps_per_rung:
                        entry["fps_per_rung"] = fps_per_rung(contender, clip, source, config, exe, work)
                    if config.quality:
                        entry["quality"] = quality(contender, clip, source, config, exe, work)
                entry["cost_per_million_frames"] = cost_per_million_frames(
                    contender.plan, entry["realtime_ladders"], fps, config.prices)
            except (FfmpegError, OSError, ValueError) as exc:
                entry["error"] = f"{type(exc).__name__}: {exc}"
                log(f"{contender.name}: {entry['error']}")
            result["contenders"][contender.name] = entry
            write_results(result, out_dir, "video_ladders")  # keep what is done if a later step is cut short
    result["summary"] = summarize(result)
    log(json.dumps(result["summary"], indent=2))
    write_results(result, out_dir, "video_ladders", plot)
    return result


def summarize(result: dict) -> dict:
    runs = result["contenders"]
    summary: dict = {name: {"streams_sustained": e["streams_sustained"], "realtime_ladders": e["realtime_ladders"]}
                     for name, e in runs.items() if "realtime_ladders" in e}
    cpu, nvdec = runs.get("cpu", {}), runs.get("nvdec", {})
    if cpu.get("streams_sustained") and nvdec.get("streams_sustained") is not None:
        summary["nvdec_over_cpu_streams"] = round(nvdec["streams_sustained"] / cpu["streams_sustained"], 2)
        summary["nvdec_over_cpu_realtime_ladders"] = round(nvdec["realtime_ladders"] / cpu["realtime_ladders"], 2)
        if "quality" in cpu and "quality" in nvdec:
            summary["vmaf_nvdec_minus_cpu"] = {
                rung: round(nvdec["quality"][rung]["vmaf"] - cpu["quality"][rung]["vmaf"], 2)
                for rung in cpu["quality"] if rung in nvdec["quality"]}
    for plan in ("cpu", "nvdec"):
        script = runs.get(f"{plan}-script", {})
        if runs.get(plan, {}).get("realtime_ladders") and script.get("realtime_ladders"):
            summary[f"{plan}_over_script"] = round(runs[plan]["realtime_ladders"] / script["realtime_ladders"], 2)
    return summary


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    every = result["contenders"]
    runs = {name: e for name, e in every.items() if "realtime_ladders" in e}
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    names = list(runs)
    axes[0].bar(names, [runs[n]["realtime_ladders"] for n in names], color="#9ecae1", label="real-time ladders")
    axes[0].bar(names, [runs[n]["streams_sustained"] for n in names], width=0.4, color="#08519c",
                label="streams sustained (≤0.9× duration)")
    axes[0].set_title(f"{result['config']['source']} → 5-rung ladders ({result['machine']['cpus']} CPUs, "
                      f"{result['machine']['gpu'] or 'no GPU'})", fontsize=9)
    axes[0].legend(fontsize=8)
    axes[0].tick_params(axis="x", rotation=20)
    for ax, key, title in ((axes[1], "fps_per_rung", "fps per rung (one stream)"),
                           (axes[2], "quality", "VMAF per rung")):
        measured = [n for n in every if key in every[n]]
        for i, name in enumerate(measured):
            rungs = list(every[name][key])
            values = [every[name][key][r]["vmaf"] if key == "quality" else every[name][key][r] for r in rungs]
            xs = [j + i * 0.8 / max(1, len(measured)) for j in range(len(rungs))]
            ax.bar(xs, values, width=0.8 / max(1, len(measured)), label=name)
            ax.set_xticks(range(len(rungs)), rungs)
        ax.set_title(title)
        if measured:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = VideoBenchConfig()
    parser.add_argument("--source", default=defaults.source, choices=sorted(SOURCES))
    parser.add_argument("--segments", type=int, default=defaults.segments)
    parser.add_argument("--saturation-streams", type=int, default=defaults.saturation_streams)
    parser.add_argument("--codec", default=defaults.codec, choices=("h264", "hevc"))
    parser.add_argument("--preset", default=defaults.preset)
    parser.add_argument("--plans", default="", help="comma-separated; default: every plan the probe finds")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--gpu-scaler", default=defaults.gpu_scaler, help="cpu, bicubic, bilinear or lanczos")
    parser.add_argument("--encoder-threads", default=defaults.encoder_threads, help="auto, default or a number")
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--no-fps-per-rung", action="store_true")
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME:PLAN[:SCALING[:THREADS[:GPU_SCALER[:START_AHEAD]]]], e.g. nvdec-t2:nvdec:cascade:2 "
                             "(throughput only)")
    parser.add_argument("--quality-variant", action="append", default=[],
                        help="as --variant, quality only, e.g. nvdec-bicubic:nvdec:cascade:auto:bicubic")
    parser.add_argument("--price", action="append", default=[], help="INSTANCE=USD_PER_HOUR")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    prices = dict(PRICES_USD_PER_HOUR)
    for item in args.price:
        name, _, usd = item.partition("=")
        prices[name] = float(usd)
    config = VideoBenchConfig(source=args.source, segments=args.segments, saturation_streams=args.saturation_streams,
                              codec=args.codec, preset=args.preset,
                              plans=tuple(p for p in args.plans.split(",") if p), baselines=not args.no_baselines,
                              encoder_threads=args.encoder_threads, gpu_scaler=args.gpu_scaler,
                              variants=tuple(Contender(*v.split(":")) for v in args.variant),
                              quality_variants=tuple(Contender(*v.split(":")) for v in args.quality_variant),
                              quality=not args.no_quality, fps_per_rung=not args.no_fps_per_rung, prices=prices)
    return run(config, args.out, log=lambda line: print(line, flush=True))


if __name__ == "__main__":
    main()
