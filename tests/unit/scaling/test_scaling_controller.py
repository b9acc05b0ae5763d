"""The controller with fake I/O (collector, backend) and real policies, on a fake clock."""
import asyncio
import logging

import pytest
from prometheus_client import CollectorRegistry

from pipelines.clock import FakeClock
from scaling.backends.base import ApplyResult, PermissionDenied, ScalingConflict, ScalingTimeout
from scaling.controller import Controller, ControllerConfig
from scaling.decision import AppState
from scaling.decision_log import DecisionLog, read, replay
from scaling.locks import FileLock
from scaling.policies import StepConfig, StepPolicy
from scaling.signals import CPU, MetricHistory

T0 = 1_767_225_600.0


class FakeCollector:
    def __init__(self, cpu):
        self.cpu = cpu

    async def collect(self, now):
        h = MetricHistory()
        for i in range(6):
            h.record(CPU, now - 60 * (6 - i), self.cpu)
        return h


class FakeBackend:
    name = "fake"

    def __init__(self, kpu=2, fail=None, gate=None):
        self.kpu, self.fail, self.gate = kpu, fail, gate
        self.applied, self.described = [], 0

    async def describe(self):
        self.described += 1
        return AppState(self.kpu)

    async def apply(self, decision, state):
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.applied.append(decision.target)
        self.kpu = decision.target
        return ApplyResult(True, decision.target, "fake")

    async def wait_until_running(self, timeout_s=None):
        return AppState(self.kpu)


def controller(tmp_path, backend, cpu=95.0, dry_run=False, clock=None, lock=None, app="orders"):
    clock = clock or FakeClock(T0)
    registry = CollectorRegistry()
    c = Controller(ControllerConfig(app=app, dry_run=dry_run, interval_s=60), policy=StepPolicy(StepConfig(max_kpu=16)),
                   collector=FakeCollector(cpu), backend=backend, clock=clock, registry=registry, lock=lock,
                   decision_log=DecisionLog(tmp_path / "decisions.jsonl"))
    return c, registry, clock


async def test_dry_run_decides_and_logs_but_never_applies(tmp_path):
    backend = FakeBackend()
    c, registry, _ = controller(tmp_path, backend, dry_run=True)
    cycle = await c.step()
    assert (cycle.action, cycle.decision.target) == ("dry-run", 4)
    assert backend.applied == []
    [(_, entry)] = list(read(tmp_path / "decisions.jsonl"))
    assert entry["action"] == "dry-run" and entry["decision"]["target"] == 4 and entry["state"]["current_kpu"] == 2
    assert registry.get_sample_value("shardline_autoscaler_cycles_total", {"app": "orders", "action": "dry-run"}) == 1


async def test_applies_then_cools_down_on_its_own_rescale_time(tmp_path, caplog):
    backend = FakeBackend()
    c, registry, clock = controller(tmp_path, backend)
    with caplog.at_level(logging.INFO, logger="shardline.scaling.controller"):
        cycles = await c.run(max_cycles=3)
    assert [x.action for x in cycles] == ["applied", "kept", "kept"]
    assert cycles[1].decision.reason == "cooling down"  # the backend knows nothing; the controller remembered
    assert backend.applied == [4] and clock.time() == T0 + 120
    assert registry.get_sample_value("shardline_autoscaler_rescales_total", {"app": "orders", "direction": "up"}) == 1
    assert registry.get_sample_value("shardline_autoscaler_current_kpus", {"app": "orders"}) == 4
    assert any("event=cycle app=orders action=applied current=2 target=4" in r.getMessage() for r in caplog.records)


async def test_the_decision_log_replays_and_shows_what_another_policy_would_do(tmp_path):
    c, _, clock = controller(tmp_path, FakeBackend(), dry_run=True)
    for _ in range(3):
        await c.step()
        clock.advance(60)
    assert replay(tmp_path / "decisions.jsonl", StepPolicy(StepConfig(max_kpu=16))).to_dict() == {
        "checked": 3, "matched": 3, "mismatches": []}
    other = replay(tmp_path / "decisions.jsonl", StepPolicy(StepConfig(max_kpu=16, scale_out_factor=1.5)))
    assert other.checked == 3 and [m["replayed"]["target"] for m in other.mismatches] == [3, 3, 3]


async def test_another_controller_holding_the_file_lock_means_no_action(tmp_path):
    other = FileLock(tmp_path / "locks")
    assert await other.acquire("orders", "other-host:1")
    backend = FakeBackend()
    c, _, _ = controller(tmp_path, backend, lock=FileLock(tmp_path / "locks"))
    cycle = await c.step()
    assert cycle.action == "locked" and backend.described == 0 and backend.applied == []
    await other.release("orders", "other-host:1")
    assert (await c.step()).action == "applied"


async def test_one_decision_in_flight_per_application_in_a_process(tmp_path):
    gate = asyncio.Event()
    backend = FakeBackend(gate=gate)
    first, _, _ = controller(tmp_path, backend)
    second, _, _ = controller(tmp_path, backend)
    task = asyncio.create_task(first.step())
    await asyncio.sleep(0.01)  # first is now inside apply, waiting on the gate
    assert (await second.step()).action == "locked"
    gate.set()
    assert (await task).action == "applied" and backend.applied == [4]


@pytest.mark.parametrize("error, action", [(ScalingConflict("changed"), "conflict"), (ScalingTimeout("slow"), "timeout")])
async def test_conflicts_and_timeouts_end_the_cycle_as_data(tmp_path, error, action):
    c, registry, _ = controller(tmp_path, FakeBackend(fail=error))
    cycle = await c.step()
    assert cycle.action == action and cycle.detail == str(error)
    assert registry.get_sample_value("shardline_autoscaler_errors_total", {"app": "orders", "error": action}) == 1


async def test_missing_permissions_stop_the_controller(tmp_path):
    c, _, _ = controller(tmp_path, FakeBackend(fail=PermissionDenied("kinesisanalytics:UpdateApplication", "arn:x")))
    with pytest.raises(PermissionDenied, match="kinesisanalytics:UpdateApplication on arn:x"):
        await c.run(max_cycles=3)
