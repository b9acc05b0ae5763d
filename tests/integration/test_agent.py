"""The agent against kinesalite, the hard way.

A writer thread appends numbered lines to three logs, rotating one by rename,
one by copytruncate and one by delete-and-recreate.  The agent runs as a
subprocess behind a proxy that throttles every third PutRecords call (every
entry refused with ProvisionedThroughputExceededException, as Kinesis does
when a shard is over its limit).  Midway the agent is SIGKILLed and started
again.  At the end every line is on the stream, each file's lines in order,
and exactly once after dropping duplicates by record id (the partition key).

Deletes pause around the kill: the bytes of a file deleted while the agent is
down, and not yet shipped, are gone from the disk; no agent can send them
(Kinesis Agent neither).  Renamed and copied files survive a crash and are
rotated right through it.
"""
import http.client
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest

from connectors.kinesis.aggregation import deaggregate

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
LINES_PER_APP = 3000
ROTATE_EVERY = 400


class ThrottlingProxy(http.server.ThreadingHTTPServer):
    """Forwards to the emulator; refuses every ``every``-th PutRecords call whole, entry by entry."""

    def __init__(self, target: str, every: int = 3) -> None:
        host, port = target.split("//")[1].split(":")
        self.target, self.every, self.puts, self.throttled = (host, int(port)), every, 0, 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):  # noqa: N802 - http.server's name
        server: ThrottlingProxy = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("X-Amz-Target", "").endswith(".PutRecords"):
            with server.lock:
                server.puts += 1
                throttle = server.puts % server.every == 0
                server.throttled += throttle
            if throttle:
                count = len(json.loads(body)["Records"])
                entry = {"ErrorCode": "ProvisionedThroughputExceededException",
                         "ErrorMessage": "Rate exceeded for shard shardId-000000000000"}
                self._answer(200, json.dumps({"FailedRecordCount": count, "Records": [entry] * count}).encode(),
                             "application/x-amz-json-1.1")
                return
        conn = http.client.HTTPConnection(*server.target, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request("POST", self.path, body, headers)
        response = conn.getresponse()
        self._answer(response.status, response.read(), response.getheader("Content-Type", "application/json"))
        conn.close()

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def line(app: str, n: int) -> str:
    return f"{app} {n:06d} {'.' * 60}\n"


def writer(folder: Path, stop_after: int, go: threading.Event, deletes_allowed: threading.Event,
           deleted_through: list[int]) -> None:
    """Three apps, each rotated its own way every ROTATE_EVERY lines; line 0, then the rest once told to go."""
    handles = {app: open(folder / f"{app}.log", "a") for app in ("rename", "copy", "recreate")}
    rotations = 0
    for n in range(stop_after):
        if n == 1:
            go.wait(30)
        for app, handle in handles.items():
            handle.write(line(app, n))
            handle.flush()
        if n and n % ROTATE_EVERY == 0:
            rotations += 1
            os.rename(folder / "rename.log", folder / f"rename.log.{rotations}")
            handles["rename"].close()
            handles["rename"] = open(folder / "rename.log", "a")
            shutil.copyfile(folder / "copy.log", folder / f"copy.log.{rotations}")
            handles["copy"].truncate(0)
            handles["copy"].seek(0)
            if deletes_allowed.is_set():
                handles["recreate"].close()
                os.unlink(folder / "recreate.log")
                deleted_through.append(n)
                handles["recreate"] = open(folder / "recreate.log", "a")
        time.sleep(0.002)
    for handle in handles.values():
        handle.close()


def read_stream(stream: str) -> list[tuple[str, bytes]]:
    kinesis = boto3.client("kinesis")
    out = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            for record in page["Records"]:
                out.extend((u.partition_key, u.data) for u in deaggregate(record["Data"], record["PartitionKey"]))
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return out


def first_copies(records):
    seen, out = set(), []
    for key, data in records:
        if key not in seen:
            seen.add(key)
            out.append((key, data))
    return out


def line_numbers(records) -> dict[str, list[int]]:
    by_app: dict[str, list[int]] = {}
    for _, data in first_copies(records):
        app, number, _ = data.decode().split(" ")
        by_app.setdefault(app, []).append(int(number))
    return by_app


def ranges(numbers):
    out = []
    for n in numbers:
        if out and out[-1][1] == n - 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return out


def duplicates(unique, app):
    ids: dict[int, list[str]] = {}
    for key, data in unique:
        if data.startswith(app.encode()):
            ids.setdefault(int(data.split(b" ")[1]), []).append(key)
    return [(n, keys) for n, keys in sorted(ids.items()) if len(keys) > 1]


def all_lines_arrived(records) -> bool:
    return all(len(set(numbers)) == LINES_PER_APP for numbers in line_numbers(records).values())


def start_agent(config: Path, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "jobs.cli.agent", "--config", str(config)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(log, "ab"))


def test_every_line_once_in_order_through_rotations_a_sigkill_and_throttling(local_stack, tmp_path):
    stream = f"agent-{uuid.uuid4().hex[:8]}"
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    proxy = ThrottlingProxy(local_stack.kinesis_url)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    logs = tmp_path / "logs"
    logs.mkdir()
    config = tmp_path / "agent.json"
    config.write_text(json.dumps({
        "stateDirectory": str(tmp_path / "state"), "cloudwatch.emitMetrics": False,
        "flows": [{"filePattern": str(logs / "*.log*"), "kinesisStream": stream, "kplAggregation": True,
                   "initialPosition": "START_OF_FILE", "maxBufferAgeMillis": 1000,
                   "minTimeBetweenFilePollsMillis": 50, "maxTimeBetweenFileTrackerRefreshMillis": 500,
                   "retryInitialBackoffMillis": 50, "retryMaxBackoffMillis": 500}]}))
    env = {**os.environ, "AWS_ENDPOINT_URL_KINESIS": proxy.url}
    agent_log = tmp_path / "agent.log"
    deletes_allowed = threading.Event()
    deletes_allowed.set()
    deleted_through: list[int] = [-1]
    go = threading.Event()
    write = threading.Thread(target=writer, args=(logs, LINES_PER_APP, go, deletes_allowed, deleted_through))
    agent = start_agent(config, env, agent_log)
    try:
        write.start()
        deadline = time.monotonic() + 30  # the agent is up once the first lines are on the stream
        while time.monotonic() < deadline and len(read_stream(stream)) < 3:
            time.sleep(0.1)
        go.set()
        time.sleep(2.0)
        deletes_allowed.clear()
        time.sleep(0.1)
        # The agent ships the deleted files it still holds open (their lines are on the stream) before the kill.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and \
                not set(range(deleted_through[-1] + 1)) <= set(line_numbers(read_stream(stream)).get("recreate", [])):
            time.sleep(0.2)
        time.sleep(1.5)  # and checkpoints them (checkpoints follow acknowledgement within maxBufferAgeMillis)
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
        agent = start_agent(config, env, agent_log)
        deadline = time.monotonic() + 30  # deletes resume once the new agent holds the files open
        while time.monotonic() < deadline and agent_log.read_text().count("event=producer_started") < 2:
            time.sleep(0.1)
        time.sleep(0.5)
        deletes_allowed.set()
        write.join(timeout=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all_lines_arrived(read_stream(stream)):
            time.sleep(0.5)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=20) == 0, agent_log.read_text()[-3000:]
    finally:
        if agent.poll() is None:
            agent.kill()
        proxy.shutdown()

    records = read_stream(stream)
    unique = first_copies(records)
    by_app = line_numbers(records)
    for app in ("rename", "copy", "recreate"):
        missing = sorted(set(range(LINES_PER_APP)) - set(by_app[app]))
        doubled = len(by_app[app]) - len(set(by_app[app]))
        assert not missing and not doubled, f"{app}: {len(missing)} missing {ranges(missing)}, " \
            f"{doubled} duplicated: {duplicates(unique, app)[:6]}; agent log: {agent_log}"
    # In order per file: within one fingerprint, offsets and line numbers both rise.
    per_file: dict[str, list[tuple[int, int]]] = {}
    for key, data in unique:
        fingerprint, offset = key.rsplit(":", 1)
        per_file.setdefault(fingerprint, []).append((int(offset), int(data.split(b" ")[1])))
    for fingerprint, seen in per_file.items():
        assert seen == sorted(seen), f"file {fingerprint} out of order"
    assert proxy.throttled > 0
    assert len(records) >= len(unique)
