"""KCL record processor for the transcoding sink: segment parts in, HLS out.

Started by the MultiLangDaemon, one process per shard::

    KclConfig(stream_name="cameras", application_name="cameras-hls",
              executable=python_processor("jobs.kcl.video_processor", "--out", "s3://media/hls",
                                          "--dead-letters", "s3://media/dead-letters"))

The sink is ``connectors.video.VideoSink``, as on the local runner.  The
processor flushes it before every checkpoint, so a checkpoint never passes a
part that is not either written as HLS, kept durable as a pending part (under
``.pending/<shard id>/`` in the output) or dead-lettered.  The plan is probed
once per process at start; ``--plan cpu`` skips the probe.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from connectors.kcl.processor import (PipelineRecordProcessor, configure_stderr_logging, record_pipeline,
                                      run_processor)
from connectors.video.sink import VideoSinkConfig
from pipelines.video.errors import PlanUnavailableError
from pipelines.video.ladder import TranscodeConfig
from pipelines.video.segments import video_items

log = logging.getLogger("shardline.kcl.video")
EXIT_BAD_CONFIG = 2


class VideoRecordProcessor(PipelineRecordProcessor):
    """Keeps the sink's pending parts under this shard's name, so two shard processes never share them."""

    def initialize(self, initialize_input: Any) -> None:
        super().initialize(initialize_input)
        self.sink.spool_scope = self.shard_id


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="HLS output: s3://bucket/prefix or a folder")
    parser.add_argument("--dead-letters", required=True, help="s3://bucket/prefix or a JSON-lines file")
    parser.add_argument("--plan", default="auto", help="auto, nvenc, nvdec or cpu")
    parser.add_argument("--codec", default="h264", help="h264 or hevc")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--max-streams", type=int, default=0, help="videos at once in this process (0: no limit)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    from connectors.video.ffmpeg import FfmpegMissingError
    from jobs.local.video import resolve_plan, video_sink

    args = parse_args(argv)
    configure_stderr_logging()
    try:
        config = VideoSinkConfig(transcode=TranscodeConfig(codec=args.codec, preset=args.preset),
                                 max_streams=args.max_streams)
        plan, _ = resolve_plan(args.plan, args.codec)
    except (ValueError, PlanUnavailableError, FfmpegMissingError) as exc:
        # stdout is the KCL protocol: the message goes to stderr, which the daemon logs.
        log.error("event=video_processor_config_error message=%s", exc)
        sys.exit(EXIT_BAD_CONFIG)
    log.info("event=video_processor_started plan=%s", plan)
    sink = video_sink(args.out, plan, args.dead_letters, config)
    run_processor(VideoRecordProcessor(record_pipeline(video_items), sink, dead_letters=sink.dead_letters))


if __name__ == "__main__":
    main()
