"""The Managed Flink backend against botocore's Stubber: every request is checked against the official
kinesisanalyticsv2 service model (moto has no update_application)."""
from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber

from pipelines.clock import FakeClock
from scaling.backends.base import BackendError, PermissionDenied, QuotaExceeded, ScalingConflict, ScalingTimeout
from scaling.backends.managed_flink import ManagedFlinkBackend, ManagedFlinkConfig
from scaling.decision import AppState, ScalingDecision

APP = "orders-enricher"
ARN = f"arn:aws:kinesisanalytics:us-east-1:123456789012:application/{APP}"


def detail(status="RUNNING", version=5, parallelism=2, ppk=1, autoscaling=True):
    return {"ApplicationDetail": {
        "ApplicationARN": ARN, "ApplicationName": APP, "RuntimeEnvironment": "FLINK-1_20",
        "ApplicationStatus": status, "ApplicationVersionId": version,
        "LastUpdateTimestamp": datetime(2026, 1, 1, tzinfo=timezone.utc),
        "ApplicationConfigurationDescription": {"FlinkApplicationConfigurationDescription": {
            "ParallelismConfigurationDescription": {
                "ConfigurationType": "CUSTOM", "Parallelism": parallelism, "ParallelismPerKPU": ppk,
                "CurrentParallelism": parallelism, "AutoScalingEnabled": autoscaling}}}}}


def update_params(version, parallelism, ppk=1):
    return {"ApplicationName": APP, "CurrentApplicationVersionId": version, "ApplicationConfigurationUpdate": {
        "FlinkApplicationConfigurationUpdate": {"ParallelismConfigurationUpdate": {
            "ConfigurationTypeUpdate": "CUSTOM", "ParallelismUpdate": parallelism, "ParallelismPerKPUUpdate": ppk,
            "AutoScalingEnabledUpdate": False}}}}


@pytest.fixture
def stubbed():
    client = boto3.client("kinesisanalyticsv2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        clock = FakeClock()
        backend = ManagedFlinkBackend(ManagedFlinkConfig(APP, poll_interval_s=15, wait_timeout_s=600), client=client,
                                      clock=clock)
        yield backend, stubber, clock
        stubber.assert_no_pending_responses()


def describe(stubber, **kw):
    stubber.add_response("describe_application", detail(**kw), {"ApplicationName": APP})


def update(stubber, version, parallelism, ppk=1):
    stubber.add_response("update_application", detail(status="UPDATING", version=version + 1, parallelism=parallelism, ppk=ppk),
                         update_params(version, parallelism, ppk))


def error(stubber, operation, code, message="no"):
    stubber.add_client_error(operation, service_error_code=code, service_message=message, http_status_code=400)


UP = ScalingDecision(current=2, target=4, reason="test")


async def test_describe_reads_size_version_and_status(stubbed):
    backend, stubber, _ = stubbed
    describe(stubber, parallelism=6, ppk=2, version=9)
    state = await backend.describe()
    assert (state.current_kpu, state.parallelism, state.parallelism_per_kpu, state.status) == (3, 6, 2, "RUNNING")
    assert backend.version_id == 9 and backend.autoscaling_enabled is True
    assert state.last_rescale_at == datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()


async def test_update_sets_parallelism_turns_autoscaling_off_and_waits_for_running(stubbed):
    backend, stubber, clock = stubbed
    describe(stubber, version=5)
    update(stubber, 5, 4)
    describe(stubber, status="UPDATING", version=6, parallelism=2)
    describe(stubber, version=6, parallelism=4, autoscaling=False)
    state = await backend.describe()
    result = await backend.apply(UP, state)
    assert (result.started, result.parallelism, result.method) == (True, 4, "update-application")
    done = await backend.wait_until_running()
    assert done.current_kpu == 4 and clock.slept == [15]


async def test_concurrent_modification_redescribes_and_retries_once(stubbed):
    backend, stubber, _ = stubbed
    describe(stubber, version=5)
    error(stubber, "update_application", "ConcurrentModificationException")
    describe(stubber, version=7)  # someone bumped the version (e.g. a tag or logging change), size unchanged
    update(stubber, 7, 4)
    state = await backend.describe()
    assert (await backend.apply(UP, state)).started
    assert backend.version_id == 8


async def test_concurrent_modification_that_changed_the_size_is_a_conflict(stubbed):
    backend, stubber, _ = stubbed
    describe(stubber, version=5)
    error(stubber, "update_application", "ConcurrentModificationException")
    describe(stubber, version=6, parallelism=3)
    state = await backend.describe()
    with pytest.raises(ScalingConflict, match="changed while we decided"):
        await backend.apply(UP, state)


async def test_two_concurrent_modifications_give_up(stubbed):
    backend, stubber, _ = stubbed
    describe(stubber, version=5)
    error(stubber, "update_application", "ConcurrentModificationException")
    describe(stubber, version=6)
    error(stubber, "update_application", "ConcurrentModificationException")
    state = await backend.describe()
    with pytest.raises(ScalingConflict, match="failed twice"):
        await backend.apply(UP, state)


async def test_resource_in_use_waits_for_running_then_retries(stubbed):
    backend, stubber, clock = stubbed
    describe(stubber, version=5)
    error(stubber, "update_application", "ResourceInUseException", "Application is UPDATING")
    describe(stubber, status="UPDATING", version=6)
    describe(stubber, status="UPDATING", version=6)
    describe(stubber, version=6)
    update(stubber, 6, 4)
    state = await backend.describe()
    assert (await backend.apply(UP, state)).started
    assert clock.slept == [15, 15]


@pytest.mark.parametrize("operation", ["describe_application", "update_application"])
async def test_access_denied_names_the_missing_action(stubbed, operation):
    backend, stubber, _ = stubbed
    if operation == "update_application":
        describe(stubber)
    error(stubber, operation, "AccessDeniedException", "User is not authorized")
    api = "DescribeApplication" if operation == "describe_application" else "UpdateApplication"
    with pytest.raises(PermissionDenied, match=f"kinesisanalytics:{api}") as info:
        state = await backend.describe()
        await backend.apply(UP, state)
    assert info.value.action == f"kinesisanalytics:{api}"
    if operation == "update_application":
        assert ARN in str(info.value)


async def test_over_the_quota_is_refused_before_any_call(stubbed):
    backend, _, _ = stubbed  # no responses queued: any call would fail the test
    with pytest.raises(QuotaExceeded, match="needs 80 KPUs but the quota is 64"):
        await backend.apply(ScalingDecision(current=2, target=80, reason="x"), AppState(2))


async def test_service_quota_error_is_a_quota_error(stubbed):
    backend, stubber, _ = stubbed
    describe(stubber)
    error(stubber, "update_application", "LimitExceededException", "KPU limit reached")
    state = await backend.describe()
    with pytest.raises(QuotaExceeded, match="KPU limit reached"):
        await backend.apply(UP, state)


async def test_throttling_is_retried_with_backoff(stubbed):
    backend, stubber, clock = stubbed
    error(stubber, "describe_application", "ThrottlingException")
    error(stubber, "describe_application", "ThrottlingException")
    describe(stubber)
    assert (await backend.describe()).status == "RUNNING"
    assert len(clock.slept) == 2 and 0 <= clock.slept[0] <= 1.0 and 0 <= clock.slept[1] <= 2.0


async def test_rollback_and_stopped_and_timeout_are_errors(stubbed):
    backend, stubber, _ = stubbed
    describe(stubber)
    update(stubber, 5, 4)
    describe(stubber, version=6, parallelism=2)  # back to RUNNING at the old size: rolled back
    await backend.apply(UP, await backend.describe())
    with pytest.raises(BackendError, match="rolled back"):
        await backend.wait_until_running()
    describe(stubber, status="READY")
    with pytest.raises(BackendError, match="went to READY"):
        await backend.wait_until_running()
    for _ in range(3):
        describe(stubber, status="UPDATING")
    with pytest.raises(ScalingTimeout, match="still UPDATING"):
        await backend.wait_until_running(timeout_s=30)


async def test_nothing_to_do_makes_no_call(stubbed):
    backend, stubber, _ = stubbed
    describe(stubber, parallelism=4, autoscaling=False)
    state = await backend.describe()
    result = await backend.apply(ScalingDecision(current=4, target=4, reason="x"), state)
    assert (result.started, result.method) == (False, "none")
