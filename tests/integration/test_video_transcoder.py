"""One segment through ffmpeg on the CPU plan: every rung decodes, starts on a keyframe, keeps the timeline."""
import pytest

from connectors.video.transcoder import SegmentTranscoder, SourceFormat
from pipelines.video.errors import SegmentError
from tests.video_helpers import clip_segments, decode


@pytest.fixture(scope="module")
def cuts(tmp_path_factory):
    return clip_segments("360p30", 4, tmp_path_factory.mktemp("clip"))


def test_each_segment_becomes_every_rung_with_its_frames_timestamps_and_a_leading_keyframe(cuts, tmp_path):
    source = SourceFormat("h264", 640, 360, 30.0)
    with SegmentTranscoder("cpu") as transcoder:
        for sequence, cut in enumerate(cuts):
            done = transcoder.transcode(cut.data, source, cut.meta.duration_s, tmp_path, name=f"s{sequence}")
            original = decode(cut.data)
            assert [rung.name for rung, _ in done.outputs] == ["360p", "160p"]
            for rung, path in done.outputs:
                seen = decode(path.read_bytes())
                assert (seen["width"], seen["height"]) == (rung.width, rung.height)
                assert seen["frames"] == original["frames"] == 60
                assert seen["first_is_key"] and seen["keys"] == 1
                assert (seen["first_pts"], seen["last_pts"]) == (original["first_pts"], original["last_pts"])


def test_dropping_the_top_rung_and_a_faster_preset(cuts, tmp_path):
    with SegmentTranscoder("cpu") as transcoder:
        done = transcoder.transcode(cuts[0].data, SourceFormat("h264", 640, 360, 30.0), 2.0, tmp_path,
                                    preset="superfast", drop_top=True)
    assert [rung.name for rung, _ in done.outputs] == ["160p"] and done.preset == "superfast"


def test_a_corrupt_segment_is_a_segment_error_not_a_crash(cuts, tmp_path):
    garbage = bytes(range(256)) * 4000
    with SegmentTranscoder("cpu") as transcoder:
        with pytest.raises(SegmentError) as caught:
            transcoder.transcode(garbage, SourceFormat("h264", 640, 360, 30.0), 2.0, tmp_path)
        assert caught.value.error_type == "corrupt_segment"
        # and the next good segment goes through
        assert transcoder.transcode(cuts[1].data, SourceFormat("h264", 640, 360, 30.0), 2.0, tmp_path).outputs


@pytest.mark.parametrize("source, error_type", [(SourceFormat("prores", 640, 360, 30.0), "unsupported_codec"),
                                                (SourceFormat("h264", 0, 360, 30.0), "bad_codec_parameters")])
def test_what_no_plan_can_transcode_is_refused_before_ffmpeg_runs(cuts, tmp_path, source, error_type):
    with pytest.raises(SegmentError) as caught:
        SegmentTranscoder("cpu").transcode(cuts[0].data, source, 2.0, tmp_path)
    assert caught.value.error_type == error_type


def test_a_started_ahead_process_is_used_for_the_next_segment_and_stopped_on_close(cuts, tmp_path):
    source = SourceFormat("h264", 640, 360, 30.0)
    transcoder = SegmentTranscoder("cpu", start_ahead=True)
    transcoder.transcode(cuts[0].data, source, 2.0, tmp_path, name="a")
    ahead = transcoder._ahead.process
    transcoder.transcode(cuts[1].data, source, 2.0, tmp_path, name="b")
    assert ahead.returncode == 0, "the process started ahead transcoded the second segment"
    last = transcoder._ahead.process
    transcoder.close()
    assert last.poll() is not None and transcoder._ahead is None


def test_hevc_is_an_option(cuts, tmp_path):
    from pipelines.video.ladder import TranscodeConfig

    with SegmentTranscoder("cpu", TranscodeConfig(codec="hevc")) as transcoder:
        done = transcoder.transcode(cuts[0].data, SourceFormat("h264", 640, 360, 30.0), 2.0, tmp_path)
    import av

    for _, path in done.outputs:
        with av.open(str(path)) as container:
            assert container.streams.video[0].codec_context.name == "hevc"
        assert decode(path.read_bytes())["first_is_key"]
