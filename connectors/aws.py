"""AWS clients that honour the standard ``AWS_ENDPOINT_URL_<SERVICE>`` variables.

botocore already reads those variables itself, so application code passes no
endpoint and the same code talks to real AWS when they are unset.  What this
module adds: one place that builds clients (sync and async), a region default,
and errors that tell the user which variable pointed where.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import boto3
import botocore.config
import botocore.exceptions

# Service id -> the variable botocore reads for it.
ENDPOINT_VARIABLES = {
    "kinesis": "AWS_ENDPOINT_URL_KINESIS",
    "dynamodb": "AWS_ENDPOINT_URL_DYNAMODB",
    "s3": "AWS_ENDPOINT_URL_S3",
    "firehose": "AWS_ENDPOINT_URL_FIREHOSE",
    "cloudwatch": "AWS_ENDPOINT_URL_CLOUDWATCH",
    "events": "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "kinesisanalyticsv2": "AWS_ENDPOINT_URL_KINESIS_ANALYTICS_V2",
}
DEFAULT_REGION = "us-east-1"

# Errors that mean "try again later", across services.
THROTTLING_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling",
    "LimitExceededException", "RequestLimitExceeded", "SlowDown", "ServiceUnavailable",
    "InternalFailure", "InternalServerError", "ServiceUnavailableException",
    "KMSThrottlingException", "RequestThrottled", "TooManyRequestsException",
})


class EndpointUnreachable(ConnectionError):
    """The service could not be reached; names the endpoint and where it came from."""


@dataclass(frozen=True)
class AwsConfig:
    """How clients are built.  Every field has its default here."""

    region: str | None = None
    """Region; falls back to AWS_REGION / AWS_DEFAULT_REGION, then us-east-1."""
    max_pool_connections: int = 32
    """HTTP connections per client; producers run many PutRecords in parallel."""
    connect_timeout_s: float = 5.0
    """Seconds to open a connection before the call fails (and the connector's retry takes over)."""
    read_timeout_s: float = 30.0
    """Seconds to wait for a response before the call fails (and the connector's retry takes over)."""
    sdk_retries: int = 0
    """botocore's own retries.  0: shardline's connectors retry with their own backoff."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Further ``botocore.config.Config`` arguments, passed through as they are."""

    def resolved_region(self) -> str:
        return self.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION

    def botocore_config(self) -> botocore.config.Config:
        return botocore.config.Config(
            region_name=self.resolved_region(),
            max_pool_connections=self.max_pool_connections,
            connect_timeout=self.connect_timeout_s,
            read_timeout=self.read_timeout_s,
            retries={"total_max_attempts": self.sdk_retries + 1, "mode": "standard"},
            **self.extra,
        )


def endpoint_description(service: str) -> str:
    """Say where requests for ``service`` go, for error messages."""
    variable = ENDPOINT_VARIABLES.get(service, f"AWS_ENDPOINT_URL_{service.upper()}")
    url = os.environ.get(variable) or os.environ.get("AWS_ENDPOINT_URL")
    if url:
        source = variable if os.environ.get(variable) else "AWS_ENDPOINT_URL"
        return f"{url} (from {source})"
    return f"the AWS {service} endpoint for {AwsConfig().resolved_region()} ({variable} is not set)"


def unreachable(service: str, exc: BaseException) -> EndpointUnreachable:
    hint = " Is the local stack up? Try `shardline local up` and `eval $(shardline local env)`." \
        if "from AWS_ENDPOINT_URL" in endpoint_description(service) else ""
    return EndpointUnreachable(
        f"cannot reach {service} at {endpoint_description(service)}: {type(exc).__name__}.{hint}")


CONNECTION_ERRORS = (botocore.exceptions.EndpointConnectionError,
                     botocore.exceptions.ConnectTimeoutError)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return exc.response.get("Error", {}).get("Code", "")
    return ""


def is_throttling(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLING_CODES


def client(service: str, config: AwsConfig = AwsConfig()):
    """A boto3 client.  Endpoint overrides come from the environment, read by botocore."""
    return boto3.session.Session().client(service, config=config.botocore_config())


@contextlib.asynccontextmanager
async def async_client(service: str, config: AwsConfig = AwsConfig()) -> AsyncIterator[Any]:
    """An aiobotocore client as an async context manager."""
    from aiobotocore.session import get_session

    async with get_session().create_client(service, config=config.botocore_config()) as c:
        yield c


def split_s3_url(url: str, what: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://bucket/prefix``; ``what`` names the setting in the error."""
    if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
        raise ValueError(f"{what} must look like s3://bucket/prefix, got {url!r}")
    bucket, _, prefix = url[5:].partition("/")
    return bucket, prefix.strip("/")
