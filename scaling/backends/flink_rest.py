"""Self-managed Flink (standalone, YARN, Kubernetes session) over the REST API.

In place first: with the adaptive scheduler (``jobmanager.scheduler: adaptive``, Flink 1.18+)
``PUT /jobs/<id>/resource-requirements`` changes each vertex's parallelism bounds and the
scheduler rescales from the latest checkpoint without a resubmit. Where that endpoint is
unavailable (default scheduler, older Flink) the fallback is stop-with-savepoint, then a
resubmit of the same jar from the savepoint at the new parallelism.

One KPU maps to ``parallelism_per_kpu`` task slots.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from pipelines.clock import SYSTEM_CLOCK, Clock
from scaling.backends.base import ApplyResult, BackendError, ScalingTimeout, check_quota, target_parallelism
from scaling.decision import DEFAULT_KPU_QUOTA, RUNNING, AppState, ScalingConfigError, ScalingDecision
from scaling.flink_api import TERMINAL_STATES, FlinkRestClient, FlinkRestError

log = logging.getLogger("shardline.scaling.flink_rest")

MODES = ("auto", "in-place", "savepoint")


@dataclass(frozen=True)
class FlinkRestBackendConfig:
    url: str
    """JobManager REST address, e.g. http://localhost:8081."""
    job: str
    """Job name (the newest live job with it) or a 32-hex job id."""
    mode: str = "auto"
    """'auto' (in place where the adaptive scheduler allows, else savepoint), 'in-place' or 'savepoint'."""
    parallelism_per_kpu: int = 1
    """Task slots per KPU."""
    kpu_quota: int = DEFAULT_KPU_QUOTA
    """Most KPUs the cluster may give the job; decisions above it are refused before any call."""
    jar_id: str | None = None
    """Uploaded jar (``/jars``) to resubmit from after a savepoint."""
    jar_path: str | None = None
    """Or a local jar to upload when resubmitting."""
    entry_class: str | None = None
    """Main class for the resubmit (None: the jar's manifest)."""
    program_args: tuple[str, ...] = ()
    """Arguments for the resubmit."""
    savepoint_dir: str | None = None
    """Where stop-with-savepoint writes; None uses the cluster's execution.checkpointing.savepoint-dir."""
    poll_interval_s: float = 1.0
    """How often the job is polled while it rescales."""
    wait_timeout_s: float = 300.0
    """How long a rescale may take to reach RUNNING at the new parallelism."""
    savepoint_timeout_s: float = 300.0
    """How long a stop-with-savepoint may take."""
    http_timeout_s: float = 10.0
    """Timeout of one REST call."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ScalingConfigError(f"backend mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not 1 <= self.parallelism_per_kpu <= 64:
            raise ScalingConfigError(f"parallelism_per_kpu must be within 1..64, got {self.parallelism_per_kpu}")


class FlinkRestBackend:
    name = "flink-rest"

    def __init__(self, config: FlinkRestBackendConfig, *, api: FlinkRestClient | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.api = api or FlinkRestClient(config.url, config.http_timeout_s)
        self.clock = clock
        self.job_id: str | None = None
        self._requested: int | None = None

    async def _api(self, method: str, *args, **kwargs):
        try:
            return await asyncio.to_thread(getattr(self.api, method), *args, **kwargs)
        except FlinkRestError as exc:
            if exc.status == 0:
                raise BackendError(str(exc)) from None
            raise

    async def _job(self) -> dict:
        if self.job_id is None:
            try:
                self.job_id = await self._api("resolve_job", self.config.job)
            except FlinkRestError as exc:
                raise BackendError(str(exc)) from None
        return await self._api("job", self.job_id)

    async def describe(self) -> AppState:
        job = await self._job()
        vertices = job.get("vertices", [])
        parallelism = max((v["parallelism"] for v in vertices), default=1)
        running = job["state"] == RUNNING and all(v.get("status") == RUNNING for v in vertices)
        ppk = self.config.parallelism_per_kpu
        return AppState(current_kpu=max(1, -(-parallelism // ppk)), parallelism_per_kpu=ppk, parallelism=parallelism,
                        status=RUNNING if running else job["state"])

    async def apply(self, decision: ScalingDecision, state: AppState) -> ApplyResult:
        check_quota(decision, self.config.kpu_quota, self.config.parallelism_per_kpu)
        parallelism = target_parallelism(decision, self.config.parallelism_per_kpu)
        job = await self._job()
        if self.config.mode != "savepoint":
            try:
                requirements = await self._api("resource_requirements", self.job_id)
            except FlinkRestError as exc:
                if self.config.mode == "in-place":
                    raise BackendError(f"in-place rescale is unavailable ({exc}): it needs the adaptive scheduler "
                                       "(jobmanager.scheduler: adaptive, Flink 1.18+); or use mode savepoint") from None
                log.info("event=in_place_unavailable job=%s reason=%s", self.job_id, exc)
            else:
                for vertex in requirements.values():
                    bounds = vertex["parallelism"]
                    bounds["upperBound"] = parallelism
                    bounds["lowerBound"] = min(bounds.get("lowerBound", 1), parallelism)
                await self._api("set_resource_requirements", self.job_id, requirements)
                self._requested = parallelism
                log.info("event=rescale_in_place job=%s parallelism=%d", self.job_id, parallelism)
                return ApplyResult(True, parallelism, "in-place")
        return await self._savepoint_and_resubmit(job, parallelism)

    async def _savepoint_and_resubmit(self, job: dict, parallelism: int) -> ApplyResult:
        cfg = self.config
        if not (cfg.jar_id or cfg.jar_path):
            raise BackendError("a savepoint rescale resubmits the job: set backend jar_id or jar_path (and entry_class, "
                               "program_args); nothing was stopped")
        trigger = await self._api("stop_with_savepoint", self.job_id, cfg.savepoint_dir)
        deadline = self.clock.monotonic() + cfg.savepoint_timeout_s
        while True:
            status = await self._api("savepoint_status", self.job_id, trigger)
            if status["status"]["id"] == "COMPLETED":
                break
            if self.clock.monotonic() >= deadline:
                raise ScalingTimeout(f"stop-with-savepoint of job {self.job_id} did not finish in "
                                     f"{cfg.savepoint_timeout_s:.0f}s; the job may still be running")
            await self.clock.sleep(cfg.poll_interval_s)
        operation = status.get("operation", {})
        if "location" not in operation:
            cause = operation.get("failure-cause", {}).get("stack-trace", "unknown").strip().splitlines()[:1]
            raise BackendError(f"stop-with-savepoint failed, the job keeps running: {cause[0] if cause else 'unknown'}")
        location = operation["location"]
        old = self.job_id
        try:
            jar_id = cfg.jar_id or await self._api("upload_jar", Path(cfg.jar_path))
            self.job_id = await self._api("run_jar", jar_id, entry_class=cfg.entry_class, args=cfg.program_args,
                                          parallelism=parallelism, savepoint_path=location)
        except FlinkRestError as exc:
            raise BackendError(f"job {old} is STOPPED at savepoint {location} and the resubmit failed ({exc}): "
                               f"resume it with `flink run -s {location} -p {parallelism} ...`") from None
        self._requested = parallelism
        log.info("event=rescale_savepoint old_job=%s new_job=%s parallelism=%d savepoint=%s",
                 old, self.job_id, parallelism, location)
        return ApplyResult(True, parallelism, "savepoint-resubmit", f"savepoint {location}, new job {self.job_id}")

    async def wait_until_running(self, timeout_s: float | None = None) -> AppState:
        timeout = self.config.wait_timeout_s if timeout_s is None else timeout_s
        deadline = self.clock.monotonic() + timeout
        while True:
            state = await self.describe()
            at_target = self._requested is None or state.current_parallelism == self._requested
            if state.status == RUNNING and at_target:
                return state
            if state.status in TERMINAL_STATES:
                raise BackendError(f"job {self.job_id} went to {state.status} while rescaling")
            if self.clock.monotonic() >= deadline:
                raise ScalingTimeout(f"job {self.job_id} is {state.status} at parallelism {state.current_parallelism} "
                                     f"after {timeout:.0f}s (wanted {self._requested}): are there enough free task slots?")
            await self.clock.sleep(self.config.poll_interval_s)
