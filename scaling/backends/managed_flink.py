"""Amazon Managed Service for Apache Flink (kinesisanalyticsv2) as a scaling backend.

DescribeApplication, then UpdateApplication with ``CurrentApplicationVersionId`` (optimistic
concurrency: the update is refused if anyone changed the application since we read it).
The update sets Parallelism and ParallelismPerKPU and turns the built-in autoscaler off, so
the two do not fight. Error handling:

- ConcurrentModificationException: re-describe; if the application is still as the decision
  saw it, retry once with the new version id, else ScalingConflict (re-plan next cycle);
- ResourceInUseException (UPDATING, AUTOSCALING...): wait until RUNNING, then retry once;
- AccessDenied: PermissionDenied naming the action and the application ARN (fatal);
- LimitExceededException: the KPU quota (fatal); the quota is also checked before any call;
- throttling: retried with exponential backoff and full jitter.
"""
from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import botocore.exceptions

from connectors.aws import client as aws_client
from connectors.aws import error_code, is_throttling
from pipelines.clock import SYSTEM_CLOCK, Clock
from scaling.backends.base import (
    ApplyResult,
    BackendError,
    PermissionDenied,
    QuotaExceeded,
    ScalingConflict,
    ScalingTimeout,
    check_quota,
    target_parallelism,
)
from scaling.decision import DEFAULT_KPU_QUOTA, RUNNING, AppState, ScalingDecision, kpus_for_parallelism

log = logging.getLogger("shardline.scaling.managed_flink")

IAM_PREFIX = "kinesisanalytics"
"""The IAM action prefix of the kinesisanalyticsv2 API is kinesisanalytics (e.g. kinesisanalytics:UpdateApplication)."""
ACCESS_DENIED = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
BAD_CREDENTIALS = frozenset({"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException"})
FAILED_STATUSES = frozenset({"READY", "STOPPING", "FORCE_STOPPING", "DELETING", "ROLLED_BACK"})
"""Statuses an application does not leave on its own to become RUNNING after an update."""


@dataclass(frozen=True)
class ManagedFlinkConfig:
    application: str
    """Application name."""
    kpu_quota: int = DEFAULT_KPU_QUOTA
    """'Kinesis Processing Units per application' quota; decisions above it are refused before any call."""
    poll_interval_s: float = 15.0
    """How often wait_until_running describes the application (an update takes minutes)."""
    wait_timeout_s: float = 1800.0
    """How long an update may take to reach RUNNING."""
    throttle_retries: int = 5
    """Retries of a throttled call before giving up."""
    retry_base_s: float = 1.0
    """First backoff ceiling; doubles per retry (full jitter)."""
    retry_cap_s: float = 20.0
    """Largest backoff ceiling."""


class ManagedFlinkBackend:
    name = "managed-flink"

    def __init__(self, config: ManagedFlinkConfig, *, client: Any = None, clock: Clock = SYSTEM_CLOCK,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.client = client if client is not None else aws_client("kinesisanalyticsv2")
        self.clock = clock
        self.rng = rng or random.Random()
        self.version_id: int | None = None
        self.arn: str | None = None
        self.autoscaling_enabled: bool | None = None
        self._requested: int | None = None

    @property
    def resource(self) -> str:
        return self.arn or f"application {self.config.application}"

    async def _call(self, operation: str, **kwargs: Any) -> dict:
        method = getattr(self.client, operation)
        api = self.client.meta.method_to_api_mapping.get(operation, operation)
        for attempt in range(self.config.throttle_retries + 1):
            try:
                return await asyncio.to_thread(method, **kwargs)
            except botocore.exceptions.ClientError as exc:
                code = error_code(exc)
                if code in ACCESS_DENIED:
                    raise PermissionDenied(f"{IAM_PREFIX}:{api}", self.resource) from None
                if code in BAD_CREDENTIALS:
                    raise BackendError(f"{api} was refused: the AWS credentials are not valid ({code})") from None
                if code == "LimitExceededException" or not is_throttling(exc) or attempt == self.config.throttle_retries:
                    raise
                ceiling = min(self.config.retry_cap_s, self.config.retry_base_s * 2 ** attempt)
                log.info("event=throttled api=%s attempt=%d", api, attempt + 1)
                await self.clock.sleep(self.rng.uniform(0.0, ceiling))
        raise AssertionError("unreachable")

    async def describe(self) -> AppState:
        try:
            detail = (await self._call("describe_application", ApplicationName=self.config.application))["ApplicationDetail"]
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise BackendError(f"Managed Flink application {self.config.application!r} does not exist in this "
                                   "account and region") from None
            raise
        flink = detail.get("ApplicationConfigurationDescription", {}).get("FlinkApplicationConfigurationDescription")
        if flink is None:
            raise BackendError(f"application {self.config.application!r} is not a Flink application")
        par = flink.get("ParallelismConfigurationDescription", {})
        ppk = int(par.get("ParallelismPerKPU", 1))
        current = int(par.get("CurrentParallelism") or par.get("Parallelism") or 1)
        self.version_id = int(detail["ApplicationVersionId"])
        self.arn = detail.get("ApplicationARN")
        self.autoscaling_enabled = par.get("AutoScalingEnabled")
        updated = detail.get("LastUpdateTimestamp")
        updated_at = updated.timestamp() if isinstance(updated, datetime) else None
        # LastUpdateTimestamp is any update (code too): counting it as a rescale only makes cooldowns safer
        return AppState(current_kpu=kpus_for_parallelism(current, ppk), parallelism_per_kpu=ppk, parallelism=current,
                        status=detail["ApplicationStatus"], last_rescale_at=updated_at, last_rescale_done_at=updated_at)

    async def apply(self, decision: ScalingDecision, state: AppState) -> ApplyResult:
        ppk = state.parallelism_per_kpu
        check_quota(decision, self.config.kpu_quota, ppk)
        parallelism = target_parallelism(decision, ppk)
        if parallelism == state.current_parallelism and self.autoscaling_enabled is False:
            return ApplyResult(False, parallelism, "none", "already at this parallelism")
        if self.version_id is None:
            await self.describe()
        retried = False
        while True:
            update = {"FlinkApplicationConfigurationUpdate": {"ParallelismConfigurationUpdate": {
                "ConfigurationTypeUpdate": "CUSTOM", "ParallelismUpdate": parallelism, "ParallelismPerKPUUpdate": ppk,
                "AutoScalingEnabledUpdate": False}}}
            try:
                reply = await self._call("update_application", ApplicationName=self.config.application,
                                         CurrentApplicationVersionId=self.version_id,
                                         ApplicationConfigurationUpdate=update)
            except botocore.exceptions.ClientError as exc:
                code, message = error_code(exc), exc.response.get("Error", {}).get("Message", "")
                if code == "LimitExceededException":
                    raise QuotaExceeded(f"UpdateApplication to parallelism {parallelism}: {message or code} "
                                        "(request a KPU quota increase, or lower max_kpu)") from None
                if code in ("ConcurrentModificationException", "ResourceInUseException") and not retried:
                    retried = True
                    log.info("event=update_retry app=%s reason=%s", self.config.application, code)
                    fresh = await (self.wait_until_running(check_target=False) if code == "ResourceInUseException"
                                   else self.describe())
                    if fresh.status != RUNNING or fresh.current_parallelism != state.current_parallelism:
                        raise ScalingConflict(
                            f"application {self.config.application} changed while we decided (now {fresh.status}, "
                            f"parallelism {fresh.current_parallelism}): decision dropped, the next cycle re-plans"
                        ) from None
                    continue
                if code in ("ConcurrentModificationException", "ResourceInUseException"):
                    raise ScalingConflict(f"UpdateApplication failed twice with {code}: the next cycle re-plans") from None
                if code == "ResourceNotFoundException":
                    raise BackendError(f"application {self.config.application!r} no longer exists") from None
                if code.startswith("Invalid") or code == "CodeValidationException":
                    raise BackendError(f"UpdateApplication rejected parallelism {parallelism}: {message or code}") from None
                raise
            self.version_id = int(reply["ApplicationDetail"]["ApplicationVersionId"])
            self.autoscaling_enabled = False
            self._requested = parallelism
            log.info("event=update_started app=%s parallelism=%d parallelism_per_kpu=%d version=%d",
                     self.config.application, parallelism, ppk, self.version_id)
            return ApplyResult(True, parallelism, "update-application", f"version {self.version_id}")

    async def wait_until_running(self, timeout_s: float | None = None, check_target: bool = True) -> AppState:
        timeout = self.config.wait_timeout_s if timeout_s is None else timeout_s
        deadline = self.clock.monotonic() + timeout
        while True:
            state = await self.describe()
            if state.status == RUNNING:
                if check_target and self._requested is not None and state.current_parallelism != self._requested:
                    raise BackendError(f"the update was rolled back: parallelism is {state.current_parallelism}, "
                                       f"not {self._requested}; see the application's CloudWatch logs")
                return state
            if state.status in FAILED_STATUSES:
                raise BackendError(f"application {self.config.application} went to {state.status} instead of RUNNING")
            if self.clock.monotonic() >= deadline:
                raise ScalingTimeout(f"application {self.config.application} still {state.status} after {timeout:.0f}s")
            await self.clock.sleep(self.config.poll_interval_s)
