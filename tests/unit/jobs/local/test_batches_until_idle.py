"""batches_until_idle: the time a caller spends on a batch is not idle time."""
import asyncio

from connectors.testing import FakeClock, ScriptedConsumer
from jobs.local.runner import batches_until_idle


def test_a_slow_batch_does_not_end_the_run_before_the_next_one():
    batches = [ScriptedConsumer.batch("shardId-0", [b"a"], 1), ScriptedConsumer.batch("shardId-0", [b"b"], 2)]
    clock = FakeClock()

    async def read() -> list:
        seen = []
        async for batch in batches_until_idle(ScriptedConsumer("s", batches), idle_timeout_s=2, clock=clock):
            seen.append(batch)
            clock.advance(5)  # a slow flush: longer than the idle timeout
        return seen

    assert len(asyncio.run(read())) == 2
