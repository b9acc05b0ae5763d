"""The ladder fitted to a source, the plan chosen from a probe, and the ffmpeg command each plan runs."""
import pytest

from pipelines.video.errors import PlanUnavailableError
from pipelines.video.graph import decoder_args, filter_graph, transcode_args
from pipelines.video.ladder import DEFAULT_LADDER, LadderRung, TranscodeConfig, sized_ladder
from pipelines.video.plans import Capabilities, available_plans, choose_plan


def test_4k60_source_gets_five_even_sized_rungs_with_high_frame_rate_bitrates():
    rungs = sized_ladder(DEFAULT_LADDER, 3840, 2160, 60.0)
    assert [(r.width, r.height) for r in rungs] == [(1920, 1080), (1280, 720), (854, 480), (640, 360), (284, 160)]
    assert [r.bitrate_kbps for r in rungs] == [9000, 4500, 1800, 1050, 300]
    assert all(r.width % 2 == 0 for r in rungs)


def test_rungs_taller_than_the_source_are_left_out_and_hevc_needs_fewer_bits():
    rungs = sized_ladder(DEFAULT_LADDER, 1280, 720, 30.0, codec="hevc")
    assert [r.name for r in rungs] == ["720p", "480p", "360p", "160p"]
    assert rungs[0].bitrate_kbps == 1800


def test_a_portrait_source_keeps_its_aspect_ratio():
    rungs = sized_ladder(DEFAULT_LADDER, 1080, 1920, 30.0)
    assert (rungs[0].width, rungs[0].height) == (608, 1080)


def test_a_source_smaller_than_every_rung_still_gets_the_smallest():
    assert [r.name for r in sized_ladder(DEFAULT_LADDER, 160, 90, 30.0)] == ["160p"]


@pytest.mark.parametrize("setting, expected", [("auto", [5, 3, 1, 1, 1]), ("default", [None] * 5), ("2", [2] * 5)])
def test_encoder_threads(setting, expected):
    config = TranscodeConfig(encoder_threads=setting)
    assert [r.threads for r in sized_ladder(DEFAULT_LADDER, 3840, 2160, 60.0, config=config)] == expected


@pytest.mark.parametrize("kwargs, message", [
    ({"codec": "vp9"}, "codec"), ({"preset": "placebo"}, "preset"), ({"ladder": ()}, "at least one"),
    ({"ladder": (LadderRung(360, 700), LadderRung(720, 3000))}, "tallest first"),
    ({"encoder_threads": "many"}, "encoder_threads"), ({"gpu_scaler": "nearest"}, "gpu_scaler"),
])
def test_config_refuses_what_it_cannot_run(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TranscodeConfig(**kwargs)


CASES = [
    (Capabilities(nvdec=True, scale_cuda=True, nvenc={"h264": True, "hevc": False}), "h264", ["nvenc", "nvdec", "cpu"]),
    (Capabilities(nvdec=True, scale_cuda=True, nvenc={"h264": True, "hevc": False}), "hevc", ["nvdec", "cpu"]),
    (Capabilities(nvdec=True, scale_cuda=True), "h264", ["nvdec", "cpu"]),          # H100, H200, A100
    (Capabilities(nvdec=True, scale_cuda=False), "h264", ["cpu"]),                   # no GPU scaling: no GPU plan
    (Capabilities(nvdec=False, nvenc={"h264": True}), "h264", ["cpu"]),              # NVENC alone is not a plan
    (Capabilities(), "h264", ["cpu"]),
]


@pytest.mark.parametrize("caps, codec, plans", CASES)
def test_plans_follow_what_the_probe_opened_never_a_device_name(caps, codec, plans):
    assert available_plans(caps, codec) == plans
    assert choose_plan(caps, codec) == plans[0]
    named = Capabilities(nvdec=caps.nvdec, scale_cuda=caps.scale_cuda, nvenc=caps.nvenc, device="Tesla T4")
    assert choose_plan(named, codec) == plans[0]


def test_asking_for_a_plan_the_machine_lacks_says_what_the_probe_found():
    caps = Capabilities(nvdec=True, scale_cuda=True, nvenc={"h264": False},
                        details={"nvenc_h264": "No capable devices found"})
    with pytest.raises(PlanUnavailableError, match="No capable devices found"):
        choose_plan(caps, "h264", requested="nvenc")
    with pytest.raises(PlanUnavailableError, match="unknown plan"):
        choose_plan(caps, "h264", requested="gpu")
    assert choose_plan(caps, "h264", requested="cpu") == "cpu"


def _labels(graph: str) -> tuple[set, set]:
    import re
    made, used = set(), set()
    for chain in graph.split(";"):
        inputs = re.match(r"^((?:\[[^\]]+\])+)", chain).group(1)
        outputs = re.search(r"((?:\[[^\]]+\])+)$", chain).group(1)
        used.update(re.findall(r"\[([^\]]+)\]", inputs))
        made.update(re.findall(r"\[([^\]]+)\]", outputs))
    return made, used


@pytest.mark.parametrize("plan", ["cpu", "nvdec", "nvenc"])
@pytest.mark.parametrize("scaling", ["cascade", "direct"])
@pytest.mark.parametrize("gpu_scaler", ["cpu", "bicubic"])
def test_every_graph_decodes_once_and_feeds_each_rung_one_output(plan, scaling, gpu_scaler):
    rungs = sized_ladder(DEFAULT_LADDER, 3840, 2160, 60.0)
    graph = filter_graph(plan, rungs, scaling, gpu_scaler)
    made, used = _labels(graph)
    assert graph.count("[0:v]") == 1
    assert {f"o{k}" for k in range(5)} <= made
    assert used - {"0:v"} <= made, "every label read is made by an earlier chain"
    on_gpu = plan == "nvenc" or (plan == "nvdec" and gpu_scaler != "cpu")
    assert ("scale_cuda" in graph) == on_gpu
    assert ("hwdownload" in graph) == (plan == "nvdec")
    if plan == "nvdec":
        assert graph.count("hwdownload") == (5 if on_gpu else 1), "download once, or each rung after scaling"


def test_cascade_scales_each_rung_from_the_one_above():
    graph = filter_graph("cpu", sized_ladder(DEFAULT_LADDER, 3840, 2160, 60.0))
    assert "[n0]scale=w=1280:h=720" in graph and "[n3]scale=w=284:h=160" in graph


def test_transcode_args_keep_timestamps_and_cbr_and_one_keyframe_per_segment():
    rungs = sized_ladder(DEFAULT_LADDER[:2], 1920, 1080, 30.0)
    args = transcode_args("cpu", rungs, ["a.ts", "b.ts"], config=TranscodeConfig())
    assert args[args.index("-copyts") + 1:args.index("-copyts") + 5] == ["-f", "mpegts", "-i", "pipe:0"]
    assert args.count("libx264") == 2 and args.count("-map") == 2
    first = args.index("a.ts")
    assert args[args.index("-b:v"):args.index("-b:v") + 8] == ["-b:v", "6000k", "-minrate", "6000k", "-maxrate",
                                                               "6000k", "-bufsize", "6000k"]
    assert "nal-hrd=cbr:force-cfr=1:scenecut=0:keyint=infinite" in args[:first]
    hevc = transcode_args("cpu", rungs, ["a.ts", "b.ts"], config=TranscodeConfig(codec="hevc"))
    assert "libx265" in hevc and any("keyint=-1" in a and "strict-cbr=1" in a for a in hevc)
    with pytest.raises(ValueError, match="one output per rung"):
        transcode_args("cpu", rungs, ["a.ts"], config=TranscodeConfig())


def test_gpu_plans_open_the_device_before_reading_input():
    assert decoder_args("cpu") == []
    args = decoder_args("nvdec")
    assert args[:2] == ["-init_hw_device", "cuda=gpu"] and "-hwaccel_device" in args
    nvenc = transcode_args("nvenc", sized_ladder(DEFAULT_LADDER[:1], 1920, 1080, 30.0), ["a.ts"],
                           config=TranscodeConfig())
    assert "h264_nvenc" in nvenc and "hwdownload" not in " ".join(nvenc)
