"""The transcoding sink as a KCL processor under the real MultiLangDaemon (on kinesis-mock, see test_kcl_daemon)."""
from __future__ import annotations

import shutil
import time
import uuid

import pytest

from connectors.aws import client
from connectors.kcl import FAST_START_JVM_OPTIONS, KclConfig, python_processor, run_daemon
from pipelines.records import to_avro
from pipelines.video.segments import end_record, part_record
from tests.video_helpers import clip_segments, decode, parse_media, parts_of

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(170),
              pytest.mark.skipif(shutil.which("java") is None, reason="the KCL daemon needs Java 11+")]


def test_the_kcl_processor_writes_the_ladder_and_dead_letters_a_bad_record(kinesis_mock_stack, tmp_path):
    stream = f"video-kcl-{uuid.uuid4().hex[:8]}"
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    segments = parts_of(clip_segments("360p30", 4, tmp_path))
    records = [{"Data": to_avro(part_record(part)), "PartitionKey": "cam-1"} for parts in segments for part in parts]
    records.insert(1, {"Data": b"not an envelope", "PartitionKey": "cam-1"})
    records.append({"Data": to_avro(end_record("cam-1", len(segments) - 1)), "PartitionKey": "cam-1"})
    for record in records:  # one at a time: kinesis-mock keeps put order per key then
        kinesis.put_record(StreamName=stream, **record)

    out, letters = tmp_path / "hls", tmp_path / "dlq.jsonl"
    config = KclConfig(stream_name=stream, application_name=stream, worker_id="video-worker",
                       executable=python_processor("jobs.kcl.video_processor", "--out", str(out),
                                                   "--dead-letters", str(letters), "--plan", "cpu"),
                       idle_time_between_reads_ms=200, shard_sync_interval_ms=5000, jvm_options=FAST_START_JVM_OPTIONS)
    daemon = run_daemon(config, tmp_path, log_path=tmp_path / "daemon.log")
    playlist = out / "cam-1" / "160p" / "index.m3u8"
    try:
        deadline = time.monotonic() + 120
        while not (playlist.exists() and "#EXT-X-ENDLIST" in playlist.read_text()):
            assert daemon.running(), (tmp_path / "daemon.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "timed out waiting for the playlists"
            time.sleep(0.5)
    finally:
        daemon.stop()
    entries = parse_media(playlist.read_text())
    assert [e["uri"] for e in entries] == [f"seg{k:08d}.ts" for k in range(len(segments))]
    assert all(decode((out / "cam-1" / "160p" / e["uri"]).read_bytes())["first_is_key"] for e in entries)
    assert (out / "cam-1" / "master.m3u8").exists()
    assert '"error_type":"RecordValidationError"' in letters.read_text()
