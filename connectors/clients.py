"""An aiobotocore client that is either injected or opened on first use.

Sinks and dead-letter stores take an optional ``client`` (tests inject fakes
that force partial failures); when none is given they open their own with
``connectors.aws.async_client`` and must close it with themselves.
"""
from __future__ import annotations

import contextlib
from typing import Any

from connectors.aws import AwsConfig, async_client


class LazyClient:
    def __init__(self, service: str, client: Any = None, aws: AwsConfig = AwsConfig()) -> None:
        self.service = service
        self._client = client
        self._aws = aws
        self._owned: contextlib.AsyncExitStack | None = None

    async def get(self) -> Any:
        if self._client is None:
            self._owned = contextlib.AsyncExitStack()
            self._client = await self._owned.enter_async_context(async_client(self.service, self._aws))
        return self._client

    async def close(self) -> None:
        """Close the client if this object opened it; an injected client belongs to the caller."""
        if self._owned is not None:
            owned, self._owned, self._client = self._owned, None, None
            await owned.aclose()
