"""The transcoding sink end to end on the local stack: publish a 6-second 1080p clip, transcode, read HLS from S3."""
import json
import uuid

import boto3
import pytest
from typer.testing import CliRunner

from jobs.cli import app
from tests.video_helpers import decode, parse_master, parse_media

pytestmark = pytest.mark.integration
runner = CliRunner()
RESOLUTIONS = ["1920x1080", "1280x720", "854x480", "640x360", "284x160"]


def test_publish_transcode_and_play_back_a_five_rung_ladder(local_stack, tmp_path):
    stream, bucket = f"video-{uuid.uuid4().hex[:8]}", f"video-{uuid.uuid4().hex[:8]}"
    boto3.client("kinesis").create_stream(StreamName=stream, ShardCount=1)
    boto3.client("kinesis").get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1})
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)

    published = runner.invoke(app, ["video", "publish", "--synthetic", "1080p30", "--seconds", "6",
                                    "--stream", stream, "--video-id", "cam-7", "--json"])
    assert published.exit_code == 0, published.output
    counts = json.loads(published.stdout.strip().splitlines()[-1])
    assert counts["segments"] == 3 and counts["parts"] >= 3

    sunk = runner.invoke(app, ["video", "sink", "--stream", stream, "--out", f"s3://{bucket}/hls",
                               "--dead-letters", str(tmp_path / "dlq.jsonl"), "--plan", "cpu",
                               "--checkpoints", str(tmp_path / "cp.json"), "--idle-timeout", "4", "--json",
                               # two shared cores cannot keep 1080p live: the test checks the ladder, not the clock
                               "--no-degrade"])
    assert sunk.exit_code == 0, sunk.output
    result = json.loads(sunk.stdout.strip().splitlines()[-1])
    assert (result["transcoded"], result["dead_lettered_segments"], result["dead_lettered_records"]) == (3, 0, 0)

    def get(key: str) -> bytes:
        return s3.get_object(Bucket=bucket, Key=f"hls/cam-7/{key}")["Body"].read()

    variants = parse_master(get("master.m3u8").decode())
    assert [resolution for resolution, _ in variants] == RESOLUTIONS
    timelines = {}
    for resolution, uri in variants:
        rung = uri.split("/")[0]
        playlist = get(uri).decode()
        assert playlist.rstrip().endswith("#EXT-X-ENDLIST"), "the end-of-stream record closed the playlist"
        spans = []
        for entry in parse_media(playlist):
            seen = decode(get(f"{rung}/{entry['uri']}"))  # every segment decodes back
            assert f"{seen['width']}x{seen['height']}" == resolution
            assert seen["first_is_key"], f"{rung}/{entry['uri']} starts on a keyframe"
            spans.append((seen["first_pts"], seen["last_pts"], seen["frames"]))
        timelines[rung] = spans
    frame = 90_000 / 30
    reference = timelines["1080p"]
    for rung, spans in timelines.items():
        assert len(spans) == 3
        for (first, last, frames), (ref_first, ref_last, ref_frames) in zip(spans, reference):
            assert abs(first - ref_first) <= frame and abs(last - ref_last) <= frame, rung
            assert abs(frames - ref_frames) <= 1, rung
        duration = (spans[-1][1] - spans[0][0] + frame) / 90_000
        assert duration == pytest.approx(6.0, abs=1 / 30), f"{rung} keeps the clip's duration"
