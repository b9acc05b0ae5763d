import json
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid

import boto3
import pytest

from connectors.local_stack import LocalStack, LocalStackConfig, LocalStackError, ServerProcess, free_port, npm_root

pytestmark = pytest.mark.integration


def test_stack_serves_kinesis_and_moto(local_stack):
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1})
    assert kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE"
    boto3.client("s3").create_bucket(Bucket=name)
    assert name in [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]


def test_up_then_down_stops_exactly_its_processes(tmp_path):
    stack = LocalStack(LocalStackConfig(kinesis_port=free_port(), moto_port=free_port(), state_dir=tmp_path))
    stack.up()
    loaded = LocalStack.load(tmp_path)
    assert {s.name for s in loaded.servers} == {"kinesalite", "moto"}
    assert all(s["healthy"] for s in loaded.status())
    with pytest.raises(LocalStackError, match="already running"):
        LocalStack(LocalStackConfig(kinesis_port=free_port(), moto_port=free_port(), state_dir=tmp_path)).up()
    pids = [s.pid for s in loaded.servers]
    assert sorted(loaded.down()) == ["kinesalite", "moto"]
    assert not any(s.alive() for s in loaded.servers)
    assert not (tmp_path / "stack.json").exists()
    assert pids


def test_port_in_use_is_a_clear_error(tmp_path, local_stack):
    taken = local_stack.config.kinesis_port
    with pytest.raises(LocalStackError, match=f"port {taken}"):
        LocalStack(LocalStackConfig(kinesis_port=taken, moto_port=free_port(), state_dir=tmp_path)).up()


def test_a_recycled_pid_is_not_taken_for_a_server():
    import os

    from connectors.local_stack import ServerProcess, process_start_ticks

    me = ServerProcess("self", os.getpid(), 0, ["python"], "log", process_start_ticks(os.getpid()))
    assert me.alive()
    assert not ServerProcess("self", os.getpid(), 0, ["python"], "log", me.started + 1).alive()


def test_a_client_that_dies_mid_request_does_not_take_kinesalite_down(tmp_path):
    # A SIGKILLed TaskManager resets its sockets; kinesalite used to throw from the request's 'error' event and
    # exit, and every test after it failed.  Its own stack: the session's would go down with it.
    stack = LocalStack(LocalStackConfig(kinesis_port=free_port(), moto_port=free_port(), state_dir=tmp_path))
    stack.up()
    try:
        port = stack.config.kinesis_port
        kinesis = boto3.client("kinesis", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                               aws_access_key_id="local", aws_secret_access_key="local")
        gone = socket.create_connection(("127.0.0.1", port))
        gone.sendall(b"POST / HTTP/1.1\r\nHost: kinesis\r\nContent-Type: application/x-amz-json-1.1\r\n"
                     b"X-Amz-Target: Kinesis_20131202.ListStreams\r\nContent-Length: 100\r\n\r\n{\"Limit\":")
        time.sleep(0.3)
        gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
        gone.close()
        deadline = time.monotonic() + 5
        log = tmp_path / "kinesalite.log"
        while "went away mid-request" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "went away mid-request" in log.read_text()
        assert all(server.alive() for server in stack.servers)
        assert kinesis.list_streams()["StreamNames"] == []
    finally:
        stack.down()


CBOR_CLIENT = """
// Speaks CBOR to kinesalite as the AWS SDK for Java does: blobs as byte strings, timestamps as tag 1 epoch ms.
const http = require('http')
const cbor = require(require.resolve('cbor', {paths: [process.argv[2]]}))  // kinesalite's own
const [port, stream] = [Number(process.argv[3]), process.argv[4]]
function call(action, body) {
  const payload = cbor.encode(body)
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port, method: 'POST', path: '/', headers: {
      'Content-Type': 'application/x-amz-cbor-1.1', 'X-Amz-Target': 'Kinesis_20131202.' + action,
      'Content-Length': payload.length, 'X-Amz-Date': '20261206T000000Z',
      'Authorization': 'AWS4-HMAC-SHA256 Credential=local/20261206/us-east-1/kinesis/aws4_request, ' +
        'SignedHeaders=host, Signature=0'}}, res => {
      const parts = []
      res.on('data', part => parts.push(part))
      res.on('end', () => {
        try {
          const answer = cbor.decodeFirstSync(Buffer.concat(parts))
          res.statusCode == 200 ? resolve(answer) : reject(new Error(JSON.stringify(answer)))
        } catch (e) { reject(e) }
      })
    })
    req.on('error', reject)
    req.end(payload)
  })
}
async function read(iterator) {
  const {ShardIterator} = await call('GetShardIterator', {StreamName: stream, ShardId: 'shardId-000000000000',
                                                         ...iterator})
  const {Records} = await call('GetRecords', {ShardIterator})
  return Records
}
(async () => {
  const records = await read({ShardIteratorType: 'TRIM_HORIZON'})
  await call('PutRecords', {StreamName: stream, Records: [0, 1, 2].map(n => (
    {Data: Buffer.from('cbor-' + n), PartitionKey: 'k'}))})
  const since = records[0].ApproximateArrivalTimestamp
  const after = await read({ShardIteratorType: 'AT_TIMESTAMP', Timestamp: new cbor.Tagged(1, since)})
  console.log(JSON.stringify({
    data: records.map(r => Buffer.isBuffer(r.Data) ? r.Data.toString('utf8') : {notBytes: r.Data}),
    arrivals: records.map(r => r.ApproximateArrivalTimestamp), since: after.length}))
})().catch(e => { console.error(e.stack); process.exit(1) })
"""


def test_kinesalite_speaks_cbor_as_the_java_sdk_does(local_stack, tmp_path):
    # The AWS SDK for Java speaks CBOR to Kinesis.  kinesalite cut every answer over 16 KiB short, stored a CBOR
    # writer's Data so that a JSON reader got an object, and kept timestamps in seconds where the SDK has ms.
    name = f"cbor-{uuid.uuid4().hex[:8]}"
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1})
    before_ms = time.time() * 1000
    sent = [f"{n:04d}-" + "x" * 500 for n in range(200)]  # about 100 KiB in one GetRecords answer
    kinesis.put_records(StreamName=name, Records=[{"Data": data.encode(), "PartitionKey": "k"} for data in sent])
    after_ms = time.time() * 1000
    script = tmp_path / "cbor_client.js"
    script.write_text(CBOR_CLIENT)
    answer = subprocess.run(["node", str(script), str(npm_root() / "kinesalite"),
                             str(local_stack.config.kinesis_port), name], capture_output=True, text=True, timeout=30)
    assert answer.returncode == 0, answer.stderr
    seen = json.loads(answer.stdout)
    assert seen["data"] == sent
    assert all(before_ms - 1000 <= arrival <= after_ms + 1000 for arrival in seen["arrivals"])
    assert seen["since"] == len(sent) + 3
    iterator = kinesis.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator)["Records"][-3:]] == [
        b"cbor-0", b"cbor-1", b"cbor-2"]


def test_a_terminated_process_stops_the_stack_it_started(tmp_path):
    # What `timeout 600 shardline bench ...` does to a run: its emulators must not outlive it.
    script = ("import dataclasses, json, time\n"
              "from connectors.testing import running_local_stack\n"
              "with running_local_stack() as stack:\n"
              "    print(json.dumps([dataclasses.asdict(s) for s in stack.servers]), flush=True)\n"
              "    time.sleep(120)\n")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        servers = [ServerProcess(**server) for server in json.loads(process.stdout.readline())]
        assert len(servers) == 2 and all(server.alive() for server in servers)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
    assert not any(server.alive() for server in servers)
