"""`shardline video`: probe, publish, run the transcoding sink, transcode a file offline."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from jobs.cli.errors import err, fail, progress_bar, run_async

video_app = typer.Typer(help="Video: publish a stream, transcode it into an HLS ladder.", no_args_is_help=True)

PLAN_HELP = "auto (the best the probe finds), nvenc, nvdec or cpu"


def _transcode_config(codec: str, preset: str, max_streams: int = 0, start_ahead: bool = False,
                      degrade: bool = True):
    from connectors.video.sink import VideoSinkConfig
    from pipelines.video.governor import GovernorConfig
    from pipelines.video.ladder import TranscodeConfig

    try:
        return VideoSinkConfig(transcode=TranscodeConfig(codec=codec, preset=preset), max_streams=max_streams,
                               start_ahead=start_ahead, governor=GovernorConfig(enabled=degrade))
    except ValueError as exc:
        fail(str(exc))


def _plan(requested: str, codec: str) -> str:
    from connectors.video.ffmpeg import FfmpegMissingError
    from jobs.local.video import resolve_plan
    from pipelines.video.errors import PlanUnavailableError

    try:
        plan, caps = resolve_plan(requested, codec)
    except (PlanUnavailableError, FfmpegMissingError) as exc:
        fail(str(exc))
    err.print(f"plan: {plan}" + (f" ({caps.device})" if caps and caps.device else ""))
    return plan


@video_app.command("probe")
def probe(codec: str = typer.Option("h264", help="h264 or hevc: the codec NVENC must encode"),
          as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON")):
    """Open what each plan needs (NVDEC decode, GPU scaling, an NVENC session) and print the plan it picks."""
    from connectors.video.ffmpeg import FfmpegMissingError, ffmpeg_exe, probe_capabilities
    from pipelines.video.plans import available_plans

    try:
        caps = probe_capabilities()
        exe = ffmpeg_exe()
    except FfmpegMissingError as exc:
        fail(str(exc))
    plans = available_plans(caps, codec)
    report = {"plan": plans[0], "available_plans": plans, "codec": codec, "ffmpeg": exe, **caps.as_dict()}
    if as_json:
        print(json.dumps(report))
        return
    print(f"plan: {plans[0]}   (available: {', '.join(plans)})")
    print(f"gpu: {caps.device or 'none found'}")
    for check, outcome in caps.details.items():
        print(f"  {check:<11} {outcome}")


@video_app.command("publish")
def publish(file: Optional[Path] = typer.Argument(None, help="A video file (any container PyAV reads)"),
            synthetic: Optional[str] = typer.Option(None, help="1080p30, 4k60, 720p30 or 360p30 instead of a file"),
            seconds: float = typer.Option(6.0, help="Length of the synthetic clip"),
            stream: str = typer.Option(..., help="Kinesis stream to publish to"),
            video_id: str = typer.Option(..., "--video-id", help="The video's id: its partition key"),
            realtime: bool = typer.Option(False, "--realtime", help="Pace segments like a live source"),
            segment_s: float = typer.Option(2.0, "--segment-seconds", help="Target segment length (cut on keyframes)"),
            as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON")):
    """Cut a video into 2-second MPEG-TS segments and publish them as records of at most 1 MiB."""
    from connectors.kinesis.producer import KinesisProducer, ProducerConfig
    from connectors.video.publisher import PublishConfig, publish as publish_video, synthetic_or_file

    if file is not None and not file.is_file():
        fail(f"{file}: no such file")
    try:
        path, scratch = synthetic_or_file(str(file) if file else None, synthetic, seconds)
    except ValueError as exc:
        fail(str(exc))

    async def run():
        async with KinesisProducer(ProducerConfig(stream_name=stream)) as producer:
            return await publish_video(path, producer, PublishConfig(video_id, segment_s=segment_s,
                                                                     realtime=realtime))
    try:
        stats = run_async(run())
    finally:
        if scratch is not None:
            scratch.cleanup()
    counts = {"segments": stats.segments, "parts": stats.parts, "bytes": stats.bytes, "seconds": stats.seconds}
    print(json.dumps(counts) if as_json else
          f"published {stats.segments} segments ({stats.seconds:.1f} s) as {stats.parts} records to {stream}")


@video_app.command("sink")
def sink(stream: str = typer.Option(..., help="Kinesis stream of segment parts"),
         out: str = typer.Option(..., help="HLS output: a folder or s3://bucket/prefix"),
         dead_letters: str = typer.Option(..., "--dead-letters", help="s3://bucket/prefix or a JSON-lines file"),
         plan: str = typer.Option("auto", help=PLAN_HELP),
         codec: str = typer.Option("h264", help="h264 or hevc"),
         preset: str = typer.Option("veryfast", help="x264/x265 preset"),
         max_streams: int = typer.Option(0, help="Videos transcoded at once; more are dead-lettered (0: no limit)"),
         start_ahead: bool = typer.Option(False, help="Start each segment's ffmpeg early (lower latency)"),
         degrade: bool = typer.Option(True, help="Drop to a faster preset, then lose the top rung, when a segment "
                                      "takes over 0.9x its duration (--no-degrade: always the full ladder)"),
         start: str = typer.Option("trim_horizon", "--from", help="trim_horizon, latest or at_timestamp:T"),
         checkpoints: Optional[Path] = typer.Option(None, help="Checkpoint file, to resume where the last run ended"),
         idle_timeout: Optional[float] = typer.Option(None, help="Stop after this many seconds without records"),
         as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON")):
    """The transcoding sink on the local runner: every video on the stream into a 5-rung HLS ladder."""
    from jobs.local.streams import parse_start_position
    from jobs.local.video import run_video_stream

    config = _transcode_config(codec, preset, max_streams, start_ahead, degrade)
    chosen = _plan(plan, codec)
    try:
        position, timestamp = parse_start_position(start)
    except ValueError as exc:
        fail(str(exc))
    result = run_async(run_video_stream(stream, out, plan=chosen, dead_letters=dead_letters, config=config,
                                        start=position, at_timestamp=timestamp, checkpoints=checkpoints,
                                        idle_timeout_s=idle_timeout))
    counts = result.as_dict()
    print(json.dumps(counts) if as_json else
          f"read {counts['read']} records, transcoded {counts['transcoded']} segments, dead-lettered "
          f"{counts['dead_lettered_segments']} segments and {counts['dead_lettered_records']} records")


@video_app.command("transcode")
def transcode(input: Path = typer.Option(..., "--input", help="A video file"),
              out: str = typer.Option(..., "--out", help="HLS output: a folder or s3://bucket/prefix"),
              plan: str = typer.Option("auto", help=PLAN_HELP),
              codec: str = typer.Option("h264", help="h264 or hevc"),
              preset: str = typer.Option("veryfast", help="x264/x265 preset"),
              video_id: Optional[str] = typer.Option(None, "--video-id", help="Folder name under --out (default: "
                                                     "the file's name)"),
              dead_letters: Optional[str] = typer.Option(None, "--dead-letters",
                                                         help="Where failed segments go (default: OUT.dlq.jsonl)"),
              as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON")):
    """Offline: the same HLS ladder from a file (master.m3u8, <height>p/index.m3u8 and segments)."""
    from jobs.local.video import transcode_file

    if not input.is_file():
        fail(f"{input}: no such file")
    config = _transcode_config(codec, preset)
    chosen = _plan(plan, codec)
    letters = dead_letters or (f"{out.rstrip('/')}.dlq.jsonl" if not out.startswith("s3://") else
                               f"{out.rstrip('/')}/dead-letters")
    with progress_bar(None, "transcoding") as bar:
        task = bar.add_task("transcoding", total=None)
        summary = run_async(transcode_file(input, out, plan=chosen, dead_letters=letters, video_id=video_id,
                                           config=config, on_segment=lambda s: bar.advance(task, s)))
    print(json.dumps(summary) if as_json else
          f"{summary['video_id']}: {summary['transcoded']} segments on the {chosen} plan, "
          f"{summary['dead_lettered_segments']} dead-lettered ({letters})")


def bench(source: str = typer.Option("1080p30", help="4k60, 1080p60, 1080p30 or 720p30"),
          segments: int = typer.Option(3, help="Segments per stream"),
          plans: str = typer.Option("", help="Comma-separated plans (default: every plan the probe finds)"),
          quality: bool = typer.Option(True, help="PSNR and VMAF per rung"),
          out_dir: Path = typer.Option(Path("benchmarks/results"))):
    """Streams sustained, fps per rung, PSNR/VMAF and cost per plan, against ffmpeg-script baselines."""
    from benchmarks.video.ladders import main as bench_main

    args = ["--source", source, "--segments", str(segments), "--out", str(out_dir)]
    args += ["--plans", plans] if plans else []
    args += [] if quality else ["--no-quality"]
    bench_main(args)
