"""The REST backend's paths with an in-memory Flink API (the real cluster runs in tests/e2e)."""
import pytest

from pipelines.clock import FakeClock
from scaling.backends.base import BackendError, QuotaExceeded, ScalingTimeout
from scaling.backends.flink_rest import FlinkRestBackend, FlinkRestBackendConfig
from scaling.decision import ScalingConfigError, ScalingDecision
from scaling.flink_api import FlinkRestClient, FlinkRestError

JOB, NEW_JOB = "a" * 32, "b" * 32


class FakeFlink(FlinkRestClient):
    """A job with two vertices; rescales take effect on the next read."""

    def __init__(self, adaptive=True, savepoint_ok=True, run_ok=True):
        super().__init__("http://fake")
        self.adaptive, self.savepoint_ok, self.run_ok = adaptive, savepoint_ok, run_ok
        self.parallelism = {JOB: 2}
        self.state = {JOB: "RUNNING"}
        self.requests = []

    def resolve_job(self, job):
        return JOB if job == "orders" else job

    def job(self, job_id):
        p = self.parallelism[job_id]
        return {"state": self.state[job_id], "vertices": [{"id": v, "parallelism": p, "status": self.state[job_id]}
                                                          for v in ("v1", "v2")]}

    def resource_requirements(self, job_id):
        if not self.adaptive:
            raise FlinkRestError("GET resource-requirements: HTTP 500: only the adaptive scheduler supports this", 500)
        return {v: {"parallelism": {"lowerBound": 1, "upperBound": self.parallelism[job_id]}} for v in ("v1", "v2")}

    def set_resource_requirements(self, job_id, requirements):
        self.requests.append(("put", requirements))
        self.parallelism[job_id] = requirements["v1"]["parallelism"]["upperBound"]

    def stop_with_savepoint(self, job_id, target_directory):
        self.requests.append(("stop", job_id, target_directory))
        return "trigger-1"

    def savepoint_status(self, job_id, trigger_id):
        if not self.savepoint_ok:
            return {"status": {"id": "COMPLETED"}, "operation": {"failure-cause": {"stack-trace": "IOException: disk full\n at"}}}
        self.state[job_id] = "FINISHED"
        return {"status": {"id": "COMPLETED"}, "operation": {"location": "file:/sp/savepoint-1"}}

    def run_jar(self, jar_id, *, entry_class, args, parallelism, savepoint_path=None):
        self.requests.append(("run", jar_id, entry_class, tuple(args), parallelism, savepoint_path))
        if not self.run_ok:
            raise FlinkRestError("POST /jars/x/run: HTTP 400: jar not found", 400)
        self.parallelism[NEW_JOB], self.state[NEW_JOB] = parallelism, "RUNNING"
        return NEW_JOB


def backend(api, **kw):
    config = FlinkRestBackendConfig(url="http://fake", job="orders", poll_interval_s=1, wait_timeout_s=5, **kw)
    return FlinkRestBackend(config, api=api, clock=FakeClock())


UP = ScalingDecision(current=2, target=5, reason="test")


async def test_in_place_sets_every_vertex_and_waits_for_the_new_parallelism():
    api = FakeFlink()
    b = backend(api)
    state = await b.describe()
    assert (state.current_kpu, state.status) == (2, "RUNNING")
    result = await b.apply(UP, state)
    assert (result.method, result.parallelism) == ("in-place", 5)
    assert api.requests == [("put", {v: {"parallelism": {"lowerBound": 1, "upperBound": 5}} for v in ("v1", "v2")})]
    assert (await b.wait_until_running()).current_parallelism == 5


async def test_auto_falls_back_to_savepoint_and_resubmit_without_the_adaptive_scheduler():
    api = FakeFlink(adaptive=False)
    b = backend(api, jar_id="job.jar", entry_class="Main", program_args=("--in", "orders"), savepoint_dir="file:/sp")
    result = await b.apply(UP, await b.describe())
    assert result.method == "savepoint-resubmit" and b.job_id == NEW_JOB
    assert api.requests == [("stop", JOB, "file:/sp"), ("run", "job.jar", "Main", ("--in", "orders"), 5, "file:/sp/savepoint-1")]
    assert (await b.wait_until_running()).current_parallelism == 5


async def test_in_place_mode_without_the_adaptive_scheduler_is_a_clear_error():
    b = backend(FakeFlink(adaptive=False), mode="in-place")
    with pytest.raises(BackendError, match="jobmanager.scheduler: adaptive"):
        await b.apply(UP, await b.describe())


async def test_savepoint_without_a_jar_to_resubmit_stops_nothing():
    api = FakeFlink(adaptive=False)
    b = backend(api)
    with pytest.raises(BackendError, match="nothing was stopped"):
        await b.apply(UP, await b.describe())
    assert api.requests == []


async def test_failed_savepoint_and_failed_resubmit_say_where_the_job_is():
    b = backend(FakeFlink(savepoint_ok=False), mode="savepoint", jar_id="j")
    with pytest.raises(BackendError, match="keeps running: IOException: disk full"):
        await b.apply(UP, await b.describe())
    b = backend(FakeFlink(run_ok=False), mode="savepoint", jar_id="j")
    with pytest.raises(BackendError, match="STOPPED at savepoint file:/sp/savepoint-1.*flink run -s file:/sp/savepoint-1"):
        await b.apply(UP, await b.describe())


async def test_quota_is_checked_before_any_call_and_timeouts_are_reported():
    api = FakeFlink()
    b = backend(api, kpu_quota=4)
    with pytest.raises(QuotaExceeded):
        await b.apply(UP, await b.describe())
    assert api.requests == []
    api.set_resource_requirements = lambda job_id, req: None  # accepted, but the job never gets the slots
    await b.apply(ScalingDecision(current=2, target=3, reason="x"), await b.describe())
    with pytest.raises(ScalingTimeout, match="enough free task slots"):
        await b.wait_until_running()


def test_bad_mode_is_a_config_error():
    with pytest.raises(ScalingConfigError, match="mode must be one of"):
        FlinkRestBackendConfig(url="x", job="y", mode="restart")
