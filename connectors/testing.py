"""Test doubles that users can reuse in their own tests.

- ``FakeClock`` (re-exported from ``pipelines.clock``),
- ``ListSink``: a sink that keeps what it was given,
- ``running_local_stack``: a local AWS stack on free ports for the duration
  of a ``with`` block, with the process environment pointed at it.

Time-based code takes a clock, so a test runs minutes of it in no time:

>>> import asyncio
>>> clock, sink = FakeClock(start=0.0), ListSink()
>>> async def flush_every_minute(records):
...     for record in records:
...         await sink.add(record)
...         await clock.sleep(60)          # waits no real time
...         await sink.flush()
...     await sink.close()
>>> asyncio.run(flush_every_minute([{"id": "r1"}, {"id": "r2"}]))
>>> clock.time(), sink.records, sink.flushes, sink.closed
(120.0, [{'id': 'r1'}, {'id': 'r2'}], 3, True)
"""
from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from connectors.local_stack import LocalStack, LocalStackConfig, free_port
from pipelines.clock import FakeClock

__all__ = ["FakeClock", "ListSink", "ListDeadLetters", "ScriptedConsumer", "ScriptedFirehose", "AsyncScriptedFirehose",
           "make_record", "running_local_stack", "patched_environ", "read_stream_data"]


class ListSink:
    """Collects records in memory; ``flush``/``close`` are recorded so tests can assert on them."""

    def __init__(self) -> None:
        self.records: list = []
        self.flushes = 0
        self.closed = False

    async def add(self, record) -> None:
        self.records.append(record)

    async def flush(self) -> None:
        self.flushes += 1

    async def close(self) -> None:
        await self.flush()
        self.closed = True


class ListDeadLetters:
    """A dead-letter store in memory (the ``DeadLetterSink`` protocol), with the stores' mask hook."""

    def __init__(self, mask=None) -> None:
        self.letters: list = []
        self.flushes = 0
        self.closed = False
        self._mask = mask

    async def put(self, letter) -> None:
        from connectors.dead_letter import identity, masked_letter

        self.letters.append(masked_letter(letter, self._mask or identity))

    async def flush(self) -> None:
        self.flushes += 1

    async def close(self) -> None:
        self.closed = True

    def ids(self) -> list[str]:
        """The ids of the envelopes the letters hold, sorted."""
        from pipelines.records import from_avro

        return sorted(from_avro(letter.data).id for letter in self.letters)


def make_record(n: int = 1, *, valid: bool = True, **fields):
    """An envelope for tests: ``r<n>``, key ``k<n>``, payload ``{"n": n}``; any field can be given.

    ``valid=False`` builds it without validation, for tests of what engines do with invalid records.
    """
    from pipelines.records import Record, validate

    data = {"id": f"r{n}", "type": "t", "source": "test", "event_time": 1_700_000_000_000 + n,
            "partition_key": f"k{n}", "payload": {"n": n}, **fields}
    return validate(data) if valid else Record(**data)


class ScriptedFirehose:
    """A Firehose client (boto3's shape) that answers each PutRecordBatch from a script, then accepts all.

    A step is a set of positions (in that call) to refuse with ServiceUnavailableException, a
    ``{code: positions}`` dict to refuse with another code, or an exception to raise.
    """

    def __init__(self, *script, stream: str | None = None) -> None:
        self.script = list(script)
        self.stream = stream
        self.calls: list[list[bytes]] = []
        self.delivered: list[bytes] = []

    def put_record_batch(self, DeliveryStreamName, Records):  # noqa: N803 - boto3's argument names
        if self.stream is not None:
            assert DeliveryStreamName == self.stream
        self.calls.append([entry["Data"] for entry in Records])
        step = self.script.pop(0) if self.script else set()
        if isinstance(step, Exception):
            raise step
        code = "ServiceUnavailableException"
        if isinstance(step, dict):
            (code, step), = step.items()
        responses = []
        for i, entry in enumerate(Records):
            if i in step:
                responses.append({"ErrorCode": code, "ErrorMessage": "Slow down."})
            else:
                self.delivered.append(entry["Data"])
                responses.append({"RecordId": str(i)})
        return {"FailedPutCount": len(step), "RequestResponses": responses}


class AsyncScriptedFirehose(ScriptedFirehose):
    """The same, as aiobotocore's client (the sinks use it)."""

    async def put_record_batch(self, DeliveryStreamName, Records):  # noqa: N803
        return ScriptedFirehose.put_record_batch(self, DeliveryStreamName, Records)


class ScriptedConsumer:
    """A consumer of one stream that hands out the batches it was given, then ends; it records checkpoints.

    Enough of ``KinesisConsumer`` for ``jobs.local.runner.run_stream``: ``config.stream_name``, ``batches()``,
    ``checkpoint(batch)``.
    """

    def __init__(self, stream: str, batches: list) -> None:
        from connectors.kinesis.batches import ConsumerConfig

        self.config = ConsumerConfig(stream_name=stream)
        self._batches = list(batches)
        self.checkpoints: list = []

    async def batches(self):
        for batch in self._batches:
            yield batch

    async def checkpoint(self, batch, record=None) -> None:
        self.checkpoints.append((batch.shard_id, (record or batch.records[-1]).sequence_number))

    @staticmethod
    def batch(shard_id: str, datas: list[bytes], first_sequence: int = 1):
        """A ShardBatch of plain records with sequence numbers counting up from ``first_sequence``."""
        from connectors.kinesis.batches import ConsumedRecord, ShardBatch

        return ShardBatch(shard_id, [ConsumedRecord(data, f"key-{i}", shard_id, str(first_sequence + i), 0, 0.0)
                                     for i, data in enumerate(datas)], 0)


def create_stream(kinesis, name: str, shards: int) -> None:
    """Create ``name`` with ``shards`` shards and wait until it is ACTIVE (a boto3 client; for tests)."""
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})


def read_stream_data(kinesis, stream: str) -> list[bytes]:
    """Every record's data in ``stream``, shard by shard from TRIM_HORIZON (a boto3 client; for tests)."""
    return [record["Data"] for record in read_stream_records(kinesis, stream)]


def read_stream_records(kinesis, stream: str) -> list[dict]:
    """Every record in ``stream`` as GetRecords gives it (data, arrival time...), shard by shard (for tests)."""
    out: list[dict] = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            response = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            out.extend(response["Records"])
            if not response["Records"]:
                break
            iterator = response.get("NextShardIterator")
    return out


@contextlib.contextmanager
def patched_environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@contextlib.contextmanager
def running_local_stack(kinesis: str = "kinesalite", state_dir: Path | None = None,
                        dynamodb: str = "moto") -> Iterator[LocalStack]:
    """Start the local stack on free ports, point ``os.environ`` at it, stop it afterwards (on SIGTERM too)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(_terminated_as_exit())
        if state_dir is None:
            state_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shardline-stack-")))
        local = LocalStack(LocalStackConfig(kinesis=kinesis, kinesis_port=free_port(), moto_port=free_port(),
                                            dynamodb=dynamodb, dynamodb_port=free_port(), state_dir=state_dir))
        local.up()
        stack.callback(local.down)
        stack.enter_context(patched_environ(local.env()))
        yield local


@contextlib.contextmanager
def _terminated_as_exit() -> Iterator[None]:
    """SIGTERM (``timeout``, a CI runner, a killed bench) raises SystemExit while this is open, so the stack is
    stopped: its servers run in sessions of their own (``shardline local up`` outlives its command) and would be
    left running, an emulator at full CPU.  Only from the main thread, and only over the default handler."""
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def exit_on_term(signum, frame):
        raise SystemExit(128 + signum)
    previous = signal.signal(signal.SIGTERM, exit_on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class FaultProxy:
    """An HTTP proxy in front of a local AWS server that answers some calls with an AWS error instead of
    forwarding them: a fault injected where the SDK meets the service, so the code under test runs unchanged.

    ``rule(target, body)`` sees each call's ``X-Amz-Target`` (``DynamoDB_20120810.BatchWriteItem``, …) and its
    JSON body, and returns ``(status, error code, message)`` to refuse it, or None to forward it.  ``faults`` turns
    the rule off (the fix)::

        with FaultProxy(os.environ["AWS_ENDPOINT_URL_DYNAMODB"], rule) as proxy, \\
                patched_environ({"AWS_ENDPOINT_URL_DYNAMODB": proxy.url}):
            ...
    """

    def __init__(self, target_url: str, rule) -> None:
        self.target_url = target_url.rstrip("/")
        self.rule = rule
        self.faults = True
        self.refused = 0
        self._server = None

    def __enter__(self) -> "FaultProxy":
        import http.server
        import threading

        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                proxy._handle(self)

            def log_message(self, *args) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, request) -> None:
        import json
        import urllib.error
        import urllib.request

        body = request.rfile.read(int(request.headers.get("Content-Length", 0)))
        target = request.headers.get("X-Amz-Target", "")
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            parsed = {}
        refusal = self.rule(target, parsed) if self.faults else None
        if refusal is not None:
            status, code, message = refusal
            self.refused += 1
            payload = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()
            headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code}
        else:
            forward = urllib.request.Request(self.target_url + request.path, data=body, method="POST",
                                             headers={k: v for k, v in request.headers.items() if k.lower() != "host"})
            try:
                with urllib.request.urlopen(forward, timeout=30) as response:
                    status, payload, headers = response.status, response.read(), dict(response.headers)
            except urllib.error.HTTPError as exc:
                status, payload, headers = exc.code, exc.read(), dict(exc.headers)
        request.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                request.send_header(key, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)
