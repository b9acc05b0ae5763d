"""Plans, and choosing one from what a probe found (never from a GPU's name).

>>> choose_plan(Capabilities(nvdec=True, scale_cuda=True, nvenc={"h264": True, "hevc": True}), "h264")
'nvenc'
>>> choose_plan(Capabilities(nvdec=True, scale_cuda=True, nvenc={"h264": False, "hevc": False}), "h264")
'nvdec'
>>> choose_plan(Capabilities(), "h264")
'cpu'
>>> choose_plan(Capabilities(), "h264", requested="nvdec")
Traceback (most recent call last):
...
pipelines.video.errors.PlanUnavailableError: plan 'nvdec' needs NVDEC decode and scale_cuda, which the probe did not find (nvdec: not tried); use --plan auto or cpu
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.video.errors import PlanUnavailableError

PLANS = ("nvenc", "nvdec", "cpu")
"""Best first: NVDEC decode + GPU scaling + NVENC encode; NVDEC + GPU scaling + CPU encode; all on the CPU."""
PLAN_CHOICES = ("auto",) + PLANS


@dataclass(frozen=True)
class Capabilities:
    """What a capability probe could actually open on this machine."""

    nvdec: bool = False
    """An H.264 stream decoded through ``-hwaccel cuda``."""
    scale_cuda: bool = False
    """Decoded frames scaled on the GPU and downloaded."""
    nvenc: dict[str, bool] = field(default_factory=dict)
    """Per codec (``h264``, ``hevc``): an NVENC encoder session opened and produced a frame."""
    device: str | None = None
    """The GPU's name, for people and logs only: it never decides the plan."""
    details: dict[str, str] = field(default_factory=dict)
    """Per check, why it failed (the tool's last error line), or ``ok``."""

    def as_dict(self) -> dict:
        return {"nvdec": self.nvdec, "scale_cuda": self.scale_cuda, "nvenc": dict(self.nvenc),
                "device": self.device, "details": dict(self.details)}


def available_plans(caps: Capabilities, codec: str) -> list[str]:
    """The plans this machine can run for ``codec``, best first; ``cpu`` is always there."""
    plans = []
    gpu_frames = caps.nvdec and caps.scale_cuda
    if gpu_frames and caps.nvenc.get(codec, False):
        plans.append("nvenc")
    if gpu_frames:
        plans.append("nvdec")
    return plans + ["cpu"]


def choose_plan(caps: Capabilities, codec: str, requested: str = "auto") -> str:
    """The best available plan, or the requested one if the probe found what it needs."""
    if requested not in PLAN_CHOICES:
        raise PlanUnavailableError(f"unknown plan {requested!r}: choose one of {', '.join(PLAN_CHOICES)}")
    available = available_plans(caps, codec)
    if requested == "auto":
        return available[0]
    if requested in available:
        return requested
    needs = {"nvenc": f"NVENC {codec} encode, NVDEC decode and scale_cuda",
             "nvdec": "NVDEC decode and scale_cuda"}[requested]
    checks = f"nvenc_{codec}" if requested == "nvenc" else "nvdec"
    found = caps.details.get(checks, "not tried")
    raise PlanUnavailableError(f"plan {requested!r} needs {needs}, which the probe did not find "
                               f"({checks}: {found}); use --plan auto or cpu")
