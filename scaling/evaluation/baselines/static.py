"""Static provisioning: a fixed size chosen offline (e.g. for the trace's peak)."""
from __future__ import annotations

from scaling.decision import AppState, ScalingDecision
from scaling.signals import MetricHistory


class StaticPolicy:
    name = "static-peak"

    def __init__(self, kpu: int) -> None:
        self.initial_kpu = kpu

    def decide(self, state: AppState, history: MetricHistory, now: float) -> ScalingDecision:
        return ScalingDecision(state.current_kpu, self.initial_kpu, "static")
