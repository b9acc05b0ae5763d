import pytest

from connectors.testing import running_local_stack


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
