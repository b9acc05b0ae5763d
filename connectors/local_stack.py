"""The local AWS stack: a Kinesis emulator plus moto server, on loopback.

Kinesis is served by kinesalite (default) or kinesis-mock (``kinesis-local`` on
npm; it implements UpdateShardCount).  Everything else (DynamoDB, S3,
CloudWatch, Firehose, EventBridge) is moto server.  moto is never used for
Kinesis: it loses records under concurrent writers.

``up`` records each server's PID and command line in a state file, so ``down``
stops exactly what ``up`` started and never a process that reused a PID.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from connectors.paths import state_dir

KINESIS_EMULATORS = ("kinesalite", "kinesis-mock")
KINESALITE_GUARD = Path(__file__).with_name("kinesalite_guard.js")
"""Preloaded into kinesalite: a client gone mid-request (a killed TaskManager) no longer kills the emulator."""
DYNAMODB_EMULATORS = ("moto", "dynalite")
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "shardline-local",
    "AWS_SECRET_ACCESS_KEY": "shardline-local",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}
MOTO_SERVICES = ("DYNAMODB", "S3", "CLOUDWATCH", "FIREHOSE", "EVENTBRIDGE", "KINESIS_ANALYTICS_V2", "STS")


class LocalStackError(RuntimeError):
    pass


def npm_root() -> Path:
    """Where ``make setup`` installs the npm emulators (project-local)."""
    return Path(os.environ.get("SHARDLINE_NPM_DIR") or state_dir() / "npm") / "node_modules"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class LocalStackConfig:
    """Ports and choices for the local stack; every default is here."""

    kinesis: str = "kinesalite"
    """Kinesis emulator: kinesalite (fast, no UpdateShardCount) or kinesis-mock (resharding)."""
    kinesis_port: int = 4567
    """Port of the Kinesis emulator (the tests' fixtures pick free ports)."""
    moto_port: int = 5000
    """Port of moto server (DynamoDB, S3, CloudWatch, Firehose, Managed Flink)."""
    dynamodb: str = "moto"
    """DynamoDB emulator: moto, or dynalite (npm, an independent implementation that enforces DynamoDB's
    validation and conditional writes as moto does not; no transactions, no TTL)."""
    dynamodb_port: int = 4568
    """Port of dynalite, when it serves DynamoDB."""
    host: str = "127.0.0.1"
    """Address both servers listen on; the AWS_ENDPOINT_URL_* variables point here."""
    state_dir: Path = field(default_factory=lambda: state_dir() / "local")
    """Where the PID/state file and server logs go: ``<state>/local`` (see connectors.paths)."""
    start_timeout_s: float = 60.0
    """Seconds a server may take to answer its health check before ``up`` fails with its log's tail."""
    stream_op_ms: int = 50
    """How long the emulator pretends CREATING/UPDATING lasts (AWS takes seconds)."""

    def __post_init__(self) -> None:
        if self.kinesis not in KINESIS_EMULATORS:
            raise LocalStackError(f"unknown Kinesis emulator {self.kinesis!r}; choose one of {KINESIS_EMULATORS}")
        if self.dynamodb not in DYNAMODB_EMULATORS:
            raise LocalStackError(f"unknown DynamoDB emulator {self.dynamodb!r}; choose one of {DYNAMODB_EMULATORS}")


@dataclass
class ServerProcess:
    name: str
    pid: int
    port: int
    command: list[str]
    log: str

    started: int | None = None
    """The process's start time in clock ticks (/proc/<pid>/stat), so a recycled PID is never taken for it."""

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        # Compare start times, not command lines: some servers (kinesis-mock) rename their process.
        return self.started is None or process_start_ticks(self.pid) in (self.started, None)


def process_start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22, counted after the parenthesised command name (which may contain spaces).
    return int(stat.rsplit(")", 1)[1].split()[19])


@dataclass
class LocalStack:
    config: LocalStackConfig = field(default_factory=LocalStackConfig)
    servers: list[ServerProcess] = field(default_factory=list)

    # -- addresses ---------------------------------------------------------
    @property
    def kinesis_url(self) -> str:
        return f"http://{self.config.host}:{self.config.kinesis_port}"

    @property
    def moto_url(self) -> str:
        return f"http://{self.config.host}:{self.config.moto_port}"

    def env(self) -> dict[str, str]:
        """The variables that point every AWS client at this stack."""
        env = dict(LOCAL_CREDENTIALS)
        env["AWS_ENDPOINT_URL_KINESIS"] = self.kinesis_url
        for service in MOTO_SERVICES:
            env[f"AWS_ENDPOINT_URL_{service}"] = self.moto_url
        if self.config.dynamodb == "dynalite":
            env["AWS_ENDPOINT_URL_DYNAMODB"] = f"http://{self.config.host}:{self.config.dynamodb_port}"
        env["SHARDLINE_KINESIS_EMULATOR"] = self.config.kinesis
        return env

    # -- lifecycle ---------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.config.state_dir / "stack.json"

    def up(self) -> "LocalStack":
        if self.state_file.exists():
            running = LocalStack.load(self.config.state_dir)
            if running.servers and all(s.alive() for s in running.servers):
                raise LocalStackError(
                    f"a local stack is already running (state in {self.state_file}); "
                    "run `shardline local down` first")
            self.state_file.unlink()
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.servers.append(self._start_kinesis())
            self.servers.append(self._start_moto())
            if self.config.dynamodb == "dynalite":
                self.servers.append(self._start_dynalite())
            self._wait_healthy()
        except BaseException:
            self.down()
            raise
        self._save()
        return self

    def down(self) -> list[str]:
        stopped = []
        for server in self.servers:
            if server.alive():
                try:
                    os.killpg(server.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    os.kill(server.pid, signal.SIGTERM)
                stopped.append(server.name)
        deadline = time.monotonic() + 10
        for server in self.servers:
            while server.alive() and time.monotonic() < deadline:
                _reap(server.pid)
                time.sleep(0.05)
            if server.alive():
                os.killpg(server.pid, signal.SIGKILL)
            _reap(server.pid)
        self.servers = []
        if self.state_file.exists():
            self.state_file.unlink()
        return stopped

    def status(self) -> list[dict]:
        return [{"name": s.name, "pid": s.pid, "port": s.port, "alive": s.alive(),
                 "healthy": s.alive() and self._healthy(s)} for s in self.servers]

    @classmethod
    def load(cls, state_dir: Path | None = None) -> "LocalStack":
        state_dir = state_dir or LocalStackConfig().state_dir
        path = state_dir / "stack.json"
        if not path.exists():
            return cls(LocalStackConfig(state_dir=state_dir))
        state = json.loads(path.read_text())
        config = LocalStackConfig(kinesis=state["kinesis"], kinesis_port=state["kinesis_port"],
                                  moto_port=state["moto_port"], host=state["host"], state_dir=state_dir,
                                  dynamodb=state.get("dynamodb", "moto"),
                                  dynamodb_port=state.get("dynamodb_port", LocalStackConfig.dynamodb_port))
        return cls(config, [ServerProcess(**s) for s in state["servers"]])

    def _save(self) -> None:
        state = {"kinesis": self.config.kinesis, "kinesis_port": self.config.kinesis_port,
                 "moto_port": self.config.moto_port, "host": self.config.host, "dynamodb": self.config.dynamodb,
                 "dynamodb_port": self.config.dynamodb_port,
                 "servers": [asdict(s) for s in self.servers]}
        self.state_file.write_text(json.dumps(state, indent=2))

    # -- servers -----------------------------------------------------------
    def _spawn(self, name: str, port: int, command: list[str], cwd: Path | None = None,
               env: dict[str, str] | None = None) -> ServerProcess:
        _check_port_free(self.config.host, port, name)
        log = self.config.state_dir / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    env={**os.environ, **(env or {})})
        return ServerProcess(name, proc.pid, port, command, str(log), process_start_ticks(proc.pid))

    def _start_kinesis(self) -> ServerProcess:
        node = shutil.which("node")
        if node is None:
            raise LocalStackError("node is not installed; the Kinesis emulators need Node.js 18+")
        port, ms = self.config.kinesis_port, self.config.stream_op_ms
        if self.config.kinesis == "kinesalite":
            cli = npm_root() / "kinesalite" / "cli.js"
            _require(cli)
            return self._spawn("kinesalite", port, [
                node, "--require", str(KINESALITE_GUARD), str(cli), "--port", str(port), "--host", self.config.host,
                "--createStreamMs", str(ms), "--deleteStreamMs", str(ms),
                "--updateStreamMs", str(ms), "--shardLimit", "1000"])
        package = npm_root() / "kinesis-local"
        _require(package / "main.js")
        duration = f"{ms}ms"
        return self._spawn("kinesis-mock", port, [node, str(package / "main.js")], cwd=package, env={
            "KINESIS_MOCK_PLAIN_PORT": str(port), "KINESIS_MOCK_TLS_PORT": str(free_port()),
            "CREATE_STREAM_DURATION": duration, "DELETE_STREAM_DURATION": duration,
            "UPDATE_SHARD_COUNT_DURATION": duration, "REGISTER_STREAM_CONSUMER_DURATION": duration,
            "SHARD_LIMIT": "1000", "LOG_LEVEL": "WARN", "AWS_REGION": LOCAL_CREDENTIALS["AWS_REGION"]})

    def _start_dynalite(self) -> ServerProcess:
        cli = npm_root() / "dynalite" / "cli.js"
        _require(cli)
        ms = str(self.config.stream_op_ms)
        return self._spawn("dynalite", self.config.dynamodb_port, [
            shutil.which("node") or "node", str(cli), "--port", str(self.config.dynamodb_port),
            "--host", self.config.host, "--createTableMs", ms, "--deleteTableMs", ms, "--updateTableMs", ms])

    def _start_moto(self) -> ServerProcess:
        return self._spawn("moto", self.config.moto_port, [
            sys.executable, "-m", "moto.server", "-H", self.config.host, "-p", str(self.config.moto_port)])

    def _healthy(self, server: ServerProcess) -> bool:
        if server.name == "moto":
            return _http_ok(f"{self.moto_url}/moto-api/")
        if server.name == "dynalite":
            return _port_open(self.config.host, server.port)
        return _kinesis_ok(self.kinesis_url)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.config.start_timeout_s
        pending = list(self.servers)
        while pending:
            for server in list(pending):
                if not server.alive():
                    raise LocalStackError(f"{server.name} exited at start; last lines of {server.log}:\n"
                                          + _tail(Path(server.log)))
                if self._healthy(server):
                    pending.remove(server)
            if pending and time.monotonic() > deadline:
                names = ", ".join(s.name for s in pending)
                raise LocalStackError(f"{names} did not become healthy in {self.config.start_timeout_s:.0f}s; "
                                      f"see logs in {self.config.state_dir}")
            time.sleep(0.1)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _require(path: Path) -> None:
    if not path.exists():
        raise LocalStackError(f"{path} is missing; run `make setup` to install the emulators")


def _check_port_free(host: str, port: int, name: str) -> None:
    with socket.socket() as s:
        if s.connect_ex((host, port)) == 0:
            raise LocalStackError(f"port {port} on {host} is already in use; pick another port for {name}")


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _port_open(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status < 500
    except (urllib.error.URLError, OSError):
        return False


def _kinesis_ok(url: str) -> bool:
    import boto3
    import botocore.config

    try:
        boto3.client("kinesis", endpoint_url=url, region_name="us-east-1",
                     aws_access_key_id="x", aws_secret_access_key="x",
                     config=botocore.config.Config(retries={"total_max_attempts": 1},
                                                   connect_timeout=1, read_timeout=2)).list_streams()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
