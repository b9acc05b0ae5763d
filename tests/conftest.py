import os

import pytest

from connectors.testing import running_local_stack


# Modules that share one unit of work under parallel workers, so they run one after another: each starts a
# standalone Flink cluster and SIGKILLs or rescales it against a clock, and two would split the 2 cores.
ONE_AT_A_TIME = {module: "flink-standalone" for module in (
    "tests/e2e/test_eventsourcing_flink_crash.py", "tests/e2e/test_pii_job_cluster.py",
    "tests/e2e/test_scaling_flink_rest.py", "tests/e2e/test_timeseries_flink_crash.py")}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Under ``make test``'s workers (pytest-xdist), each test module is one unit of work, so its module-scoped
    fixtures (a cluster run, a wheel installed in a venv) are built once, on one worker; and the modules of
    ``ONE_AT_A_TIME`` make one unit together.  (xdist's own ``loadgroup`` would do the second, but it renames
    node ids in a way pytest 9.2 no longer reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return ONE_AT_A_TIME.get(module, module)

    return ModuleScheduling(config, log)


@pytest.fixture(autouse=True)
def _environment_free_of_pyflink_workers():
    """A Python function of a PyFlink job run in this process (the MiniCluster's loopback worker) copies its
    boot process's whole environment into ``os.environ``: ``PYFLINK_GATEWAY_DISABLED`` with it, so every
    PyFlink job a later test starts as a subprocess refused to launch its gateway, and the endpoints the
    gateway JVM was started with.  Which test ran first decided whether that broke anything; under
    parallel workers it did.  Put back the environment the test found."""
    before = dict(os.environ)
    yield
    if "PYFLINK_GATEWAY_DISABLED" in os.environ and "PYFLINK_GATEWAY_DISABLED" not in before:
        os.environ.clear()
        os.environ.update(before)


@pytest.fixture(scope="session")
def local_stack():
    """kinesalite + moto server on free ports, with AWS_ENDPOINT_URL_* set, for the whole session."""
    with running_local_stack("kinesalite") as stack:
        yield stack


@pytest.fixture(scope="module")
def kinesis_mock_stack():
    """kinesis-mock (supports UpdateShardCount) + moto server on free ports, for one module.

    It sets the process environment on top of ``local_stack``'s and restores it afterwards.
    """
    with running_local_stack("kinesis-mock") as stack:
        yield stack


@pytest.fixture(params=["moto", "dynalite"])
def dynamodb_stack(request, local_stack):
    """The local stack with DynamoDB served by moto, then by dynalite (an independent implementation that
    enforces DynamoDB's validation and conditions as moto does not), for the tests of code that writes to it.
    One test's: while it runs the environment points at dynalite, and a test after it in the module that
    asked for ``local_stack`` alone must not find it so (it did: moto's transactions went to dynalite)."""
    if request.param == "moto":
        yield local_stack
        return
    with running_local_stack("kinesalite", dynamodb="dynalite") as stack:
        yield stack
